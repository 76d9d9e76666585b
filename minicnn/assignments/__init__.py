"""Student assignments: solution markers, a starter-code builder and an autograder.

    markers.py    # BEGIN SOLUTION / # END SOLUTION regions -> stubs   (strip_solutions)
    manifest.py   manifest.json: tasks, points, time limits, files     (list_assignments, find_assignment)
    builder.py    the student package: starter code, visible tests, README   (build_assignment)
    grader.py     hidden tests, one subprocess per task, with limits   (grade_submission)
    runner.py     the code that runs inside that subprocess
    report.py     the per-task report: text, JSON, Gradescope
    checks.py     assert_close / check_gradient with messages that say what is wrong and where

The assignments themselves are the folders next to these modules (a1_autograd, a2_conv,
a3_training, a4_transfer); README.md in this folder is the instructor guide. From the shell::

    minicnn assignment list
    minicnn assignment build a2_conv --out a2
    minicnn assignment grade a2 --json report.json
"""
from __future__ import annotations

from .builder import BuildError, build_assignment
from .grader import GradeError, grade_submission
from .manifest import Assignment, ManifestError, Task, find_assignment, list_assignments, load_assignment
from .markers import MarkerError, strip_solutions
from .report import GradeReport, TaskResult

__all__ = ["Assignment", "Task", "list_assignments", "find_assignment", "load_assignment",
           "build_assignment", "grade_submission", "strip_solutions", "GradeReport", "TaskResult",
           "ManifestError", "MarkerError", "BuildError", "GradeError"]
