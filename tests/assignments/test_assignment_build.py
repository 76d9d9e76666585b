"""The student package: complete, importable, and free of solution text."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minicnn.assignments import BuildError, build_assignment, find_assignment

from assignment_helpers import ASSIGNMENTS

_BEGIN, _END = re.compile(r"^\s*#\s*BEGIN SOLUTION"), re.compile(r"^\s*#\s*END SOLUTION")


def reference_solution_lines(name: str) -> set[str]:
    """Lines inside the solution regions of the reference, found independently of the builder,
    minus those that the code outside the regions shows anyway (given code, not solutions)."""
    inside, outside = set(), []
    assignment = find_assignment(name)
    for rel in assignment.student_files:
        in_region = False
        for line in (assignment.root / rel).read_text().splitlines():
            if _BEGIN.match(line) or _END.match(line):
                in_region = bool(_BEGIN.match(line))
            elif in_region:
                inside.add(line.strip())
                inside.add(line.split("  #")[0].strip())            # the code without its comment
            else:
                outside.append(line)
    given = "\n".join(outside)
    return {line for line in inside if re.search(r"\w", line) and line not in given}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_package_has_starter_code_tests_and_readme_but_no_solutions(name, build):
    out = build(name)
    assignment = find_assignment(name)
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    expected = set(assignment.student_files) | set(assignment.support_files) | set(assignment.visible_tests)
    assert files == expected | {"README.md", "assignment.json", "conftest.py"}
    assert not any("hidden" in f or f == "manifest.json" for f in files)

    secret = reference_solution_lines(name)
    assert len(secret) >= 10
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            leaked = [line for line in secret if line in text]
            assert not leaked, f"{path.name} contains solution text: {leaked[:3]}"
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text

    readme = (out / "README.md").read_text()
    assert "python -m pytest tests -q" in readme and f"Tasks ({assignment.max_points:g} points)" in readme
    for task in assignment.tasks:
        assert f"| {task.title} (`{task.name}`) | {task.points:g} | {task.time_limit:g} s |" in readme
    public = json.loads((out / "assignment.json").read_text())
    assert public["assignment"] == name and public["with_solutions"] is False
    assert [t["points"] for t in public["tasks"]] == [t.points for t in assignment.tasks]


def test_starter_functions_raise_not_implemented_naming_themselves(build, monkeypatch):
    out = build("a2_conv")
    monkeypatch.syspath_prepend(str(out))
    import importlib

    sys.modules.pop("conv_layers", None)
    conv_layers = importlib.import_module("conv_layers")
    try:
        import numpy as np

        with pytest.raises(NotImplementedError, match="implement im2col in conv_layers.py"):
            conv_layers.im2col(np.zeros((1, 1, 4, 4)), 2, 2)
        assert conv_layers.output_size(5, 5, 3, 3, 2, 1) == (3, 3)     # given code still works
    finally:
        sys.modules.pop("conv_layers", None)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_visible_tests_pass_on_the_reference_build(name, build):
    out = build(name, with_solutions=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=out,
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "passed" in run.stdout


def test_instructor_build_keeps_the_reference(build):
    out = build("a2_conv", with_solutions=True)
    reference = (find_assignment("a2_conv").root / "conv_layers.py").read_text()
    assert (out / "conv_layers.py").read_text() == reference
    assert "Instructor build" in (out / "README.md").read_text()


def test_output_folder_rules(tmp_path, build):
    out = build("a1_autograd", folder="pkg")
    with pytest.raises(BuildError, match="is not empty"):
        build_assignment("a1_autograd", out)
    build_assignment("a2_conv", out, force=True)                    # replaces an earlier build
    assert (out / "conv_layers.py").is_file() and not (out / "tiny_tensor.py").exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(BuildError, match="not an earlier build"):
        build_assignment("a2_conv", other, force=True)
    assert (other / "mine.txt").read_text() == "keep me"


def test_a_solution_line_in_a_visible_test_stops_the_build(tmp_path):
    copy = tmp_path / "a2_conv"
    shutil.copytree(find_assignment("a2_conv").root, copy)
    with open(copy / "tests" / "test_conv_layers.py", "a") as f:
        f.write("\n\nif False:\n    db = dout.sum(axis=(0, 2, 3))  # the reference's line\n")
    with pytest.raises(BuildError, match=r"would leak into tests/test_conv_layers.py:\d+: 'db = dout.sum"):
        build_assignment(copy, tmp_path / "out")
    assert not (tmp_path / "out").exists()                          # nothing half-written


def test_markers_outside_student_files_stop_the_build(tmp_path):
    copy = tmp_path / "a4_transfer"
    shutil.copytree(find_assignment("a4_transfer").root, copy)
    with open(copy / "features.py", "a") as f:
        f.write("\n# BEGIN SOLUTION\n# END SOLUTION\n")
    with pytest.raises(BuildError, match="features.py has solution markers but is not a student file"):
        build_assignment(copy, tmp_path / "out")
