"""Assignment manifests: which files students get, which tasks there are, their points and limits.

Every assignment is a folder holding a ``manifest.json``::

    a2_conv/
        manifest.json            tasks, points, time limits, file lists
        conv_layers.py           student file: the reference with # BEGIN/END SOLUTION markers
        tests/test_visible.py    visible tests (shipped to students)
        hidden/test_conv_forward.py   hidden tests, one file per task (never shipped)

The manifest (all paths relative to the folder)::

    {
      "title": "Convolution and pooling",
      "description": "Markdown shown at the top of the student README.",
      "student_files": ["conv_layers.py"],
      "support_files": [],
      "visible_tests": ["tests/test_visible.py"],
      "time_limit": 60,
      "tasks": [
        {"name": "conv_forward", "title": "Naive convolution forward", "points": 15,
         "hidden": "hidden/test_conv_forward.py", "time_limit": 30,
         "description": "Implement conv2d_naive_forward."}
      ]
    }

``student_files`` are stripped of their solutions when building; ``support_files`` are shipped
as they are and are restored from the assignment when grading (students cannot change them);
a task's ``time_limit`` (seconds, default: the assignment's, default 60) bounds the subprocess
that runs its hidden tests.

Assignments are looked up in this package, then in the folders listed in the environment
variable ``MINICNN_ASSIGNMENTS`` (separated like PATH), then in any ``source`` folder given to
the functions below: instructors can keep private assignments outside minicnn.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["Task", "Assignment", "ManifestError", "load_assignment", "list_assignments",
           "find_assignment", "MANIFEST", "ENV_VAR"]

MANIFEST = "manifest.json"
ENV_VAR = "MINICNN_ASSIGNMENTS"
BUILTIN_DIR = Path(__file__).resolve().parent
DEFAULT_TIME_LIMIT = 60.0

_ASSIGNMENT_KEYS = {"title", "description", "student_files", "support_files", "visible_tests",
                    "time_limit", "tasks"}
_TASK_KEYS = {"name", "title", "points", "hidden", "time_limit", "description"}


class ManifestError(ValueError):
    """A manifest.json is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Task:
    """One graded unit: its hidden test files run in one subprocess; all pass -> full points."""

    name: str
    title: str
    points: float
    hidden: tuple[str, ...]
    time_limit: float
    description: str = ""


@dataclass(frozen=True)
class Assignment:
    """A loaded manifest; ``root`` is the assignment folder, every path is relative to it."""

    name: str
    root: Path
    title: str
    description: str
    student_files: tuple[str, ...]
    support_files: tuple[str, ...]
    visible_tests: tuple[str, ...]
    tasks: tuple[Task, ...]

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tasks)

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"assignment {self.name} has no task {name!r}; "
                       f"tasks: {', '.join(t.name for t in self.tasks)}")

    def public_manifest(self) -> dict[str, Any]:
        """What a student may see (written to the built folder as ``assignment.json``)."""
        return {
            "assignment": self.name, "title": self.title, "max_points": self.max_points,
            "student_files": list(self.student_files),
            "tasks": [{"name": t.name, "title": t.title, "points": t.points} for t in self.tasks],
        }


def _relative_path(value: Any, where: str, root: Path) -> str:
    """Check that a manifest path is a relative path to an existing file inside the folder."""
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{where}: expected a relative file path, got {value!r}")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise ManifestError(f"{where}: {value!r} must be a path inside the assignment folder "
                            f"(relative, without '..')")
    if not (root / path).is_file():
        raise ManifestError(f"{where}: {value!r} does not exist in {root}")
    return str(path)


def _path_list(data: dict[str, Any], key: str, where: str, root: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ManifestError(f"{where}: '{key}' must be a list of file paths, got {value!r}")
    return tuple(_relative_path(v, f"{where}: {key}", root) for v in value)


def _positive(value: Any, where: str, allow_zero: bool = False) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or value < 0 or (value == 0 and not allow_zero):
        raise ManifestError(f"{where}: expected a {'non-negative' if allow_zero else 'positive'} "
                            f"number, got {value!r}")
    return value


def _load_task(data: Any, index: int, default_limit: float, where: str, root: Path) -> Task:
    where = f"{where}: tasks[{index}]"
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected an object with name, title, points and hidden")
    unknown = set(data) - _TASK_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_TASK_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ManifestError(f"{where}: 'name' must be an identifier such as 'conv_forward', got {name!r}")
    hidden = _path_list(data, "hidden", f"{where} ({name})", root)
    if not hidden:
        raise ManifestError(f"{where} ({name}): 'hidden' must name at least one hidden test file")
    return Task(name=name, title=str(data.get("title", name)),
                points=_positive(data.get("points"), f"{where} ({name}): points", allow_zero=True),
                hidden=hidden,
                time_limit=_positive(data.get("time_limit", default_limit), f"{where} ({name}): time_limit"),
                description=str(data.get("description", "")))


def load_assignment(folder: str | Path) -> Assignment:
    """Read and check ``folder/manifest.json``.

    Raises:
        ManifestError: a missing or malformed manifest, or a listed file that does not exist.
    """
    root = Path(folder).resolve()
    path = root / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{root} is not an assignment: it has no {MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    where = str(path)
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object at the top level")
    unknown = set(data) - _ASSIGNMENT_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_ASSIGNMENT_KEYS)}")
    default_limit = _positive(data.get("time_limit", DEFAULT_TIME_LIMIT), f"{where}: time_limit")
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise ManifestError(f"{where}: 'tasks' must be a non-empty list")
    tasks = tuple(_load_task(t, i, default_limit, where, root) for i, t in enumerate(raw_tasks))
    names = [t.name for t in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(f"{where}: task names must be unique, repeated: {duplicates}")
    student_files = _path_list(data, "student_files", where, root)
    if not student_files:
        raise ManifestError(f"{where}: 'student_files' must list at least one file")
    return Assignment(name=root.name, root=root, title=str(data.get("title", root.name)),
                      description=str(data.get("description", "")), student_files=student_files,
                      support_files=_path_list(data, "support_files", where, root),
                      visible_tests=_path_list(data, "visible_tests", where, root), tasks=tasks)


def _search_dirs(source: str | Path | None) -> list[Path]:
    dirs = [BUILTIN_DIR]
    dirs += [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    if source is not None:
        dirs.append(Path(source))
    return dirs


def _assignment_folders(source: str | Path | None) -> list[Path]:
    """Every folder with a manifest.json, in each search folder (or the search folder itself)."""
    found: list[Path] = []
    for d in _search_dirs(source):
        if (d / MANIFEST).is_file():
            found.append(d)
        elif d.is_dir():
            found += sorted(p.parent for p in d.glob(f"*/{MANIFEST}"))
    return found


def list_assignments(source: str | Path | None = None) -> list[Assignment]:
    """All assignments: the built-in ones, then ``$MINICNN_ASSIGNMENTS``, then ``source``."""
    return [load_assignment(folder) for folder in _assignment_folders(source)]


def find_assignment(name: str | Path, source: str | Path | None = None) -> Assignment:
    """An assignment by name (``"a2_conv"``) or by the path of its folder.

    A later search folder wins over an earlier one, so a private copy in ``source`` can replace
    a built-in assignment of the same name.
    """
    if Path(name, MANIFEST).is_file():
        return load_assignment(name)
    matches = [f for f in _assignment_folders(source) if f.name == str(name)]
    if not matches:
        available = ", ".join(f.name for f in _assignment_folders(source)) or "none"
        raise ManifestError(f"no assignment named {str(name)!r}; available: {available} "
                            f"(or pass the path of a folder holding a {MANIFEST})")
    return load_assignment(matches[-1])
