"""Manifests: the built-in assignments, lookup by name or folder, and malformed manifests."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from minicnn.assignments import ManifestError, find_assignment, list_assignments, load_assignment

from assignment_helpers import ASSIGNMENTS


def test_builtin_assignments_have_tasks_worth_100_points():
    found = {a.name: a for a in list_assignments()}
    assert sorted(found) == ASSIGNMENTS
    for a in found.values():
        assert a.max_points == 100
        assert len(a.tasks) >= 3
        assert all(t.points > 0 and 0 < t.time_limit <= 120 for t in a.tasks)
        assert all((a.root / h).is_file() and h.startswith("hidden/") for t in a.tasks for h in t.hidden)
        assert a.visible_tests and all(v.startswith("tests/") for v in a.visible_tests)
    assert [t.name for t in found["a2_conv"].tasks] == [
        "conv_forward", "conv_backward", "im2col", "col2im", "max_pool_forward", "max_pool_backward"]


def _copy_assignment(tmp_path: Path, name: str = "a2_conv") -> Path:
    dst = tmp_path / "private" / name
    shutil.copytree(find_assignment(name).root, dst)
    return dst


def test_find_by_folder_source_and_environment(tmp_path, monkeypatch):
    copy = _copy_assignment(tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["title"] = "Private conv"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert find_assignment(copy).title == "Private conv"                       # a folder
    assert find_assignment("a2_conv", source=copy.parent).title == "Private conv"   # source wins
    assert find_assignment("a2_conv").title != "Private conv"                 # built-in otherwise
    monkeypatch.setenv("MINICNN_ASSIGNMENTS", str(copy.parent))
    assert find_assignment("a2_conv").title == "Private conv"


def test_unknown_assignment_lists_the_available_ones():
    with pytest.raises(ManifestError, match=r"no assignment named 'a9'; available: a1_autograd, a2_conv"):
        find_assignment("a9")


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(tasks=[]), "'tasks' must be a non-empty list"),
    (lambda m: m.update(colour="red"), "unknown field(s) ['colour']"),
    (lambda m: m["tasks"][0].update(points=-1),
     "tasks[0] (conv_forward): points: expected a non-negative number, got -1"),
    (lambda m: m["tasks"][0].update(hidden="hidden/missing.py"), "'hidden/missing.py' does not exist"),
    (lambda m: m["tasks"][0].update(hidden="../a1_autograd/hidden/test_mlp.py"),
     "must be a path inside the assignment folder"),
    (lambda m: m["tasks"][1].update(name="conv_forward"), "task names must be unique, repeated: ['conv_forward']"),
    (lambda m: m["tasks"][0].update(time_limit=0), "time_limit: expected a positive number, got 0"),
    (lambda m: m["tasks"][0].update(name="conv forward"), "'name' must be an identifier"),
])
def test_malformed_manifests_are_explained(tmp_path, change, message):
    copy = _copy_assignment(tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    change(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError) as info:
        load_assignment(copy)
    assert message in str(info.value)


def test_invalid_json_names_line_and_column(tmp_path):
    copy = _copy_assignment(tmp_path)
    (copy / "manifest.json").write_text('{\n  "title": "x",\n  oops\n}')
    with pytest.raises(ManifestError, match=r"invalid JSON at line 3, column 3"):
        load_assignment(copy)
