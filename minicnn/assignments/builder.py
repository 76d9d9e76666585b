"""Build the student package of an assignment: starter code, visible tests and a README.

``build_assignment("a2_conv", "out/a2")`` writes::

    out/a2/
        README.md            tasks, points, time limits, how to run the tests
        assignment.json      the assignment's name and tasks (lets the grader find the assignment)
        conftest.py          puts this folder on sys.path for pytest
        conv_layers.py       starter code: every solution region replaced by its stub
        tests/test_*.py      the visible tests

The hidden tests and the manifest stay in minicnn. Before writing anything, the builder scans
every file of the package for every line of every solution region and refuses
(:class:`BuildError`) if one is found, so a solution cannot leak through a visible test or a
support file by accident. ``with_solutions=True`` builds the instructor's version (the
reference files unchanged).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .manifest import Assignment, find_assignment
from .markers import has_markers, strip_solutions

__all__ = ["build_assignment", "BuildError", "solution_lines"]

_CONFTEST = '''"""Lets pytest import your files (e.g. ``import conv_layers``) from the tests folder."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
'''


class BuildError(ValueError):
    """The package cannot be built (output folder in the way, markers in the wrong file, a leak)."""


def _is_code(line: str) -> bool:
    """A line worth checking for leaks: it says something (not only brackets or punctuation)."""
    return bool(re.search(r"[A-Za-z0-9]", line))


def solution_lines(assignment: Assignment) -> set[str]:
    """Every (stripped) line of every solution region that the starter code does not show anyway.

    A line that also occurs in the given code (``return out`` after a region, or the training
    step written out in a docstring) is not secret; every other line of a region is.
    """
    inside: set[str] = set()
    given: list[str] = []
    for rel in assignment.student_files:
        stripped = strip_solutions((assignment.root / rel).read_text(encoding="utf-8"), rel)
        for line in stripped.solution_lines:
            inside.add(line.strip())
            inside.add(_code_part(line))       # the code alone, in case the comment was changed
        given.append(stripped.text)
    given_text = "\n".join(given)
    return {line for line in inside if _is_code(line) and not _contains(given_text, line)}


def _code_part(line: str) -> str:
    """'x = 1   # why' -> 'x = 1' (a '#' inside a string only makes the result shorter)."""
    return re.split(r"\s#", line, maxsplit=1)[0].strip()


def _contains(text: str, fragment: str) -> bool:
    """``fragment`` occurs in ``text`` as whole words (``return out`` is not in ``return output``)."""
    return re.search(rf"(?<!\w){re.escape(fragment)}(?!\w)", text) is not None


def _readme(assignment: Assignment, with_solutions: bool) -> str:
    total = f"{assignment.max_points:g}"
    lines = [f"# {assignment.title}", ""]
    if with_solutions:
        lines += ["> **Instructor build: this folder contains the reference solutions.** "
                  "Do not give it to students.", ""]
    if assignment.description:
        lines += [assignment.description.strip(), ""]
    lines += ["## Files", ""]
    for rel in assignment.student_files:
        lines.append(f"- `{rel}`: **your code.** Replace every `raise NotImplementedError(...)` "
                     f"with your implementation; keep the function names and signatures.")
    for rel in assignment.support_files:
        lines.append(f"- `{rel}`: given code; do not change it (the grader uses its own copy).")
    if assignment.visible_tests:
        lines.append("- `tests/`: the visible tests, a first check of your work.")
    lines += ["", f"## Tasks ({total} points)", "",
              "| # | task | points | time limit |", "|---|------|-------:|-----------:|"]
    for i, t in enumerate(assignment.tasks, start=1):
        lines.append(f"| {i} | {t.title} (`{t.name}`) | {t.points:g} | {t.time_limit:g} s |")
    lines.append("")
    for i, t in enumerate(assignment.tasks, start=1):
        lines += [f"### {i}. {t.title} ({t.points:g} points)", ""]
        if t.description:
            lines += [t.description.strip(), ""]
    lines += [
        "## Running the visible tests", "",
        "From this folder (you need minicnn and pytest: `pip install minicnn pytest`):", "",
        "    python -m pytest tests -q", "",
        "The visible tests check the basics. Your grade comes from hidden tests that check more "
        "cases (other shapes, strides, edge cases) and give a message for each failure.", "",
        "## How you are graded", "",
        "Each task is graded separately, in its own process, with the time limit above. A task "
        "earns all its points when all its hidden tests pass, and none otherwise. Code that "
        "crashes, loops forever or prints endlessly loses only the task it breaks. Some tasks "
        "are graded with the reference version of the other tasks' functions, so a mistake is "
        "not counted twice.", "",
        f"Submit: {', '.join(f'`{f}`' for f in assignment.student_files)}.", "",
        "Check your score (if your course allows it) with:", "",
        "    minicnn assignment grade .", "",
    ]
    return "\n".join(lines)


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise BuildError(f"{out} is not empty; choose a new folder, or pass force=True "
                             f"(--force) to replace an earlier build")
        if not (out / "assignment.json").is_file():
            raise BuildError(f"{out} is not empty and is not an earlier build (no assignment.json); "
                             f"refusing to delete it, choose a new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _check_no_leak(assignment: Assignment, files: dict[str, str]) -> None:
    """Refuse to write a package in which any line contains a secret line of a solution region."""
    secret = solution_lines(assignment)
    for rel, text in files.items():
        for n, line in enumerate(text.splitlines(), start=1):
            for leaked in (s for s in secret if _contains(line, s)):
                raise BuildError(f"solution text would leak into {rel}:{n}: {leaked!r}; "
                                 f"remove it from that file or mark it in the student file")


def build_assignment(assignment: str | Path | Assignment, out: str | Path, *, with_solutions: bool = False,
                     force: bool = False, source: str | Path | None = None) -> Path:
    """Write the student package of ``assignment`` to the folder ``out`` and return its path.

    Args:
        assignment: a name (``"a2_conv"``), an assignment folder or an :class:`Assignment`.
        out: output folder; must be missing or empty (or an earlier build, with ``force``).
        with_solutions: copy the reference files instead of the starter code (instructors).
        force: replace an earlier build in ``out``.
        source: an extra folder to look for assignments in.

    Raises:
        BuildError: ``out`` is in the way, a file other than a student file has markers, or
            solution text would leak.
        MarkerError: misplaced solution markers (file and line in the message).
    """
    spec = assignment if isinstance(assignment, Assignment) else find_assignment(assignment, source)
    out = Path(out)
    # Strip everything first: a marker error must not leave a half-built folder behind.
    files: dict[str, str] = {}
    for rel in spec.student_files:
        text = (spec.root / rel).read_text(encoding="utf-8")
        files[rel] = text if with_solutions else strip_solutions(text, rel).text
    for rel in spec.support_files + spec.visible_tests:
        text = (spec.root / rel).read_text(encoding="utf-8")
        if has_markers(text):
            raise BuildError(f"{spec.root / rel} has solution markers but is not a student file; "
                             f"list it in 'student_files' or remove the markers")
        files[rel] = text
    files.setdefault("conftest.py", _CONFTEST)
    files["README.md"] = _readme(spec, with_solutions)
    public = spec.public_manifest() | {"with_solutions": with_solutions}
    files["assignment.json"] = json.dumps(public, indent=2) + "\n"

    if not with_solutions:
        _check_no_leak(spec, files)

    _prepare_out(out, force)
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    return out
