"""Grade reports: the per-task results, printed for people and written as JSON for machines.

``minicnn assignment grade --json report.json`` writes (format ``"minicnn-grade/1"``)::

    {
      "format": "minicnn-grade/1",
      "assignment": "a2_conv",
      "title": "Convolution and pooling",
      "submission": "/path/to/submission",
      "total": 75, "max": 100,
      "notes": [],
      "tasks": [
        {"name": "conv_backward", "title": "Naive convolution backward", "points": 25,
         "earned": 0, "status": "failed", "seconds": 1.3,
         "message": "test_dw: dw wrong: max relative error 0.83 at index (2, 0, 1, 1): ...",
         "output": "what the submission printed (at most the output limit)",
         "tests": [{"name": "test_dw", "status": "failed", "message": "...", "seconds": 0.2}]}
      ]
    }

``status`` is one of ``passed`` (all the task's hidden tests passed: full points), ``failed``
(a test found a wrong result, or the submission raised), ``error`` (the task could not be
run: a module did not import, the process died) and ``timeout`` (the time limit ran out).

``--gradescope results.json`` writes Gradescope's autograder format: ``score`` plus
``tests: [{name, score, max_score, status, output}]``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TaskResult", "GradeReport", "REPORT_FORMAT"]

REPORT_FORMAT = "minicnn-grade/1"
STATUSES = ("passed", "failed", "error", "timeout")


@dataclass
class TaskResult:
    """The outcome of one task (see the module docstring for the meaning of ``status``)."""

    name: str
    title: str
    points: float
    earned: float
    status: str
    message: str = ""
    seconds: float = 0.0
    output: str = ""
    tests: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GradeReport:
    """All task results of one submission; ``total`` and ``max`` are sums over the tasks."""

    assignment: str
    title: str
    submission: str
    tasks: list[TaskResult]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(t.earned for t in self.tasks)

    @property
    def max(self) -> float:
        return sum(t.points for t in self.tasks)

    def task(self, name: str) -> TaskResult:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"no task {name!r} in this report; tasks: {', '.join(t.name for t in self.tasks)}")

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report (the ``--json`` format documented above)."""
        return {"format": REPORT_FORMAT, "assignment": self.assignment, "title": self.title,
                "submission": self.submission, "total": self.total, "max": self.max,
                "notes": list(self.notes), "tasks": [asdict(t) for t in self.tasks]}

    def to_gradescope(self) -> dict[str, Any]:
        """Gradescope's ``results.json``: one Gradescope test per task."""
        tests = []
        for i, t in enumerate(self.tasks, start=1):
            output = t.message
            if t.status != "passed" and t.output.strip():
                output += "\n\nYour code printed:\n" + t.output[-4000:]
            tests.append({"name": f"{i}. {t.title} ({t.name})", "score": t.earned, "max_score": t.points,
                          "status": "passed" if t.status == "passed" else "failed", "output": output})
        return {"score": self.total, "output": "\n".join(self.notes), "tests": tests}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def write_gradescope(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_gradescope(), indent=2) + "\n", encoding="utf-8")

    def format(self) -> str:
        """The report printed by ``minicnn assignment grade``."""
        width = max(len(t.name) for t in self.tasks) if self.tasks else 4
        lines = [f"{self.assignment}: {self.title}", f"submission: {self.submission}"]
        lines += [f"note: {n}" for n in self.notes]
        lines.append("")
        for t in self.tasks:
            lines.append(f"  [{_num(t.earned):>4}/{_num(t.points):<4}] {t.name:<{width}}  "
                         f"{t.status:<7} ({t.seconds:.1f} s)  {t.title}")
            if t.status != "passed" and t.message:
                lines += ["      " + line for line in t.message.splitlines()]
        lines += ["", f"total: {_num(self.total)}/{_num(self.max)}"]
        return "\n".join(lines)


def _num(x: float) -> str:
    """15 -> '15', 2.5 -> '2.5'."""
    return f"{x:g}"
