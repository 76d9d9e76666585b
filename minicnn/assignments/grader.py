"""The autograder: run each task's hidden tests against a submission, one subprocess per task.

For a submission folder ``DIR`` and each task of its assignment:

1. the submission is copied once to a temporary folder (the grader never writes to ``DIR``);
2. the task gets a fresh copy of that snapshot, with the assignment's support files restored,
   so one task cannot disturb the next;
3. ``python -m minicnn.assignments.runner`` runs the task's hidden tests in that copy, in its own
   process group, with the task's time limit: on timeout the whole group is killed;
4. whatever the submission prints is captured up to ``output_limit`` bytes (the rest is read and
   thrown away, so endless printing fills neither memory nor disk).

A task earns all its points when every one of its hidden tests passes, and none otherwise.
Whatever the submission does (raise, exit, loop, print forever, crash the interpreter), only
that task is lost and :func:`grade_submission` returns a report.

The grader isolates mistakes, not malice: a submission runs with the grader's permissions.
Grade untrusted code inside a container (as Gradescope and GitHub Classroom do).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .manifest import Assignment, ManifestError, Task, find_assignment, load_assignment
from .report import GradeReport, TaskResult

__all__ = ["grade_submission", "GradeError", "IGNORED_NAMES"]

# Folders and files never copied from a submission.
IGNORED_NAMES = (".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".venv", "venv",
                 "node_modules", ".ipynb_checkpoints", ".mypy_cache", "*.pyc")
MAX_SUBMISSION_MB = 100.0


class GradeError(ValueError):
    """The grading itself cannot start (no such folder, unknown assignment)."""


class _OutputCapture(threading.Thread):
    """Read a pipe until EOF, keeping the first ``limit`` bytes and counting the rest."""

    def __init__(self, stream: Any, limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.head = bytearray()
        self.total = 0

    def run(self) -> None:
        fd = self.stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]

    def text(self) -> str:
        out = self.head.decode("utf-8", errors="replace")
        if self.total > len(self.head):
            out += f"\n[... output truncated: {self.total:,} bytes printed, the first {len(self.head):,} kept]"
        return out


def _resolve_assignment(submission: Path, assignment: str | Path | Assignment | None,
                        source: str | Path | None) -> Assignment:
    if isinstance(assignment, Assignment):
        return assignment
    if assignment is not None:
        return find_assignment(assignment, source)
    public = submission / "assignment.json"
    if public.is_file():
        try:
            name = json.loads(public.read_text(encoding="utf-8"))["assignment"]
        except (ValueError, KeyError, TypeError):
            raise GradeError(f"{public} is damaged; pass the assignment name (--assignment NAME)") from None
        return find_assignment(name, source)
    if (submission / "manifest.json").is_file():      # grading an assignment's own reference sources
        return load_assignment(submission)
    raise GradeError(f"{submission} has no assignment.json saying which assignment it is; pass the "
                     f"assignment name, e.g. --assignment a2_conv")


def _submission_root(submission: Path, assignment: Assignment) -> tuple[Path, list[str]]:
    """The folder holding the student files (maybe a subfolder, as in a zip), and the missing ones."""
    ignored = set(IGNORED_NAMES)
    candidates = [submission]
    first = Path(assignment.student_files[0])
    for found in sorted(submission.rglob(first.name), key=lambda p: len(p.parts)):
        if ignored.isdisjoint(found.relative_to(submission).parts):
            root = found.parents[len(first.parts) - 1]
            if root not in candidates:
                candidates.append(root)
    best = max(candidates, key=lambda r: sum((r / f).is_file() for f in assignment.student_files))
    return best, [f for f in assignment.student_files if not (best / f).is_file()]


def _folder_mb(folder: Path) -> float:
    total = 0
    ignored = set(IGNORED_NAMES)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in ignored]
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total / 2**20


def _copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED_NAMES))


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the runner and everything it started (same process group)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups of this kind
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


# Thread pools of BLAS, OpenMP and Numba. Several threads per task oversubscribe the cores when
# tasks or graders run side by side, and make small matrix products up to 50x slower.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", MPLBACKEND="Agg",
               PYTHONIOENCODING="utf-8")
    env.update({name: str(threads) for name in _THREAD_VARIABLES})
    env.pop("PYTHONSTARTUP", None)
    return env


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if isinstance(state, dict) else None
    except (OSError, ValueError):
        return None


def _summarise(state: dict[str, Any] | None, timed_out: bool, limit: float, returncode: int | None,
               output: str) -> tuple[str, str]:
    """(status, message) of one task from the runner's result file and the process outcome."""
    running = (state or {}).get("running")
    if timed_out:
        where = f" (it was running {running})" if running else ""
        return "timeout", (f"did not finish within the time limit of {limit:g} s{where}: an infinite "
                           f"loop, or code that is far too slow?")
    if state is None or not state.get("done"):
        if returncode is not None and returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
            if -returncode in (getattr(signal, "SIGKILL", 9), getattr(signal, "SIGXFSZ", -1)):
                how += " (too much memory, or too large a file?)"
        else:
            how = f"exited with code {returncode}"
        where = f" while running {running}" if running else ""
        tail = "\n".join(output.strip().splitlines()[-8:])
        return "error", (f"the test process {how}{where} before finishing (os._exit, a crash in native "
                         f"code, or exceeded limits)" + (f"; last output:\n{tail}" if tail else ""))
    tests = state.get("tests", [])
    bad = [t for t in tests if t.get("status") != "passed"]
    if not tests:
        return "error", "no tests were run (grader setup)"
    if not bad:
        return "passed", ""
    status = "error" if any(t.get("status") == "error" for t in bad) else "failed"
    messages = list(dict.fromkeys(t.get("message", "") for t in bad))
    if len(messages) == 1 and status == "error":
        return status, messages[0]
    if len(messages) == 1:             # e.g. the same NotImplementedError from every check
        return status, f"{len(bad)} of {len(tests)} checks failed: {messages[0]}"
    lines = [f"{t.get('name')}: {t.get('message', '')}" for t in bad[:3]]
    if len(bad) > 3:
        lines.append(f"... and {len(bad) - 3} more failing checks")
    return status, f"{len(bad)} of {len(tests)} checks failed:\n" + "\n".join(lines)


def _run_task(task: Task, assignment: Assignment, snapshot: Path, work: Path, *, limit: float,
              output_limit: int, memory_limit_mb: float, file_limit_mb: float, threads: int,
              python: str) -> TaskResult:
    workdir = work / f"task_{task.name}"
    _copy(snapshot, workdir)
    for rel in assignment.support_files:   # students cannot change the given files
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(assignment.root / rel, workdir / rel)
    result_file = work / f"result_{task.name}.json"
    cmd = [python, "-m", "minicnn.assignments.runner", "--result", str(result_file),
           "--submission", str(workdir), "--file-limit-mb", str(file_limit_mb),
           "--memory-limit-mb", str(memory_limit_mb)] + [str(assignment.root / h) for h in task.hidden]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=_child_env(threads), start_new_session=(os.name == "posix"))
    capture = _OutputCapture(proc.stdout, output_limit)
    capture.start()
    timed_out = False
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
    _kill_group(proc)        # also ends background processes the submission may have started
    proc.wait()
    capture.join(timeout=5)
    proc.stdout.close()
    seconds = time.monotonic() - start
    output = capture.text()
    state = _read_state(result_file)
    status, message = _summarise(state, timed_out, limit, proc.returncode, output)
    return TaskResult(name=task.name, title=task.title, points=task.points,
                      earned=task.points if status == "passed" else 0, status=status, message=message,
                      seconds=round(seconds, 2), output=output, tests=list((state or {}).get("tests", [])))


def grade_submission(
    submission: str | Path,
    assignment: str | Path | Assignment | None = None,
    *,
    source: str | Path | None = None,
    tasks: Sequence[str] | None = None,
    time_limits: float | Mapping[str, float] | None = None,
    output_limit: int = 100_000,
    memory_limit_mb: float = 4096,
    file_limit_mb: float = 64,
    threads: int = 1,
    python: str | None = None,
) -> GradeReport:
    """Grade the submission folder ``submission``; never raises because of the submission.

    Args:
        submission: folder with the student's files (e.g. the folder ``build`` wrote, edited).
        assignment: name or folder of the assignment; by default read from the submission's
            ``assignment.json`` (or, for an assignment folder itself, its ``manifest.json``).
        source: an extra folder to look for assignments in.
        tasks: grade only these tasks (default: all).
        time_limits: seconds for every task (a number) or per task name (a mapping, where the
            key ``"*"`` sets the default); other tasks keep the manifest's limit.
        output_limit: bytes of printed output kept per task.
        memory_limit_mb: address-space limit of each test process (0: none; POSIX only).
        file_limit_mb: largest file a test process may write (0: no limit; POSIX only).
        threads: BLAS / OpenMP / Numba threads per test process.
        python: interpreter for the test processes (default: this one).

    Raises:
        GradeError: ``submission`` is not a folder, or the assignment cannot be found.
    """
    submission = Path(submission).resolve()
    if not submission.is_dir():
        raise GradeError(f"submission folder {submission} does not exist (or is not a folder)")
    try:
        spec = _resolve_assignment(submission, assignment, source)
    except ManifestError as e:
        raise GradeError(str(e)) from None
    try:
        selected = list(spec.tasks) if tasks is None else [spec.task(name) for name in tasks]
    except KeyError as e:
        raise GradeError(e.args[0]) from None
    report = GradeReport(assignment=spec.name, title=spec.title, submission=str(submission), tasks=[])

    size = _folder_mb(submission)
    root, missing = _submission_root(submission, spec)
    if size > MAX_SUBMISSION_MB:
        reason = f"the submission is {size:.0f} MB, more than the {MAX_SUBMISSION_MB:.0f} MB allowed"
    elif len(missing) == len(spec.student_files):
        reason = f"none of the files {', '.join(spec.student_files)} was found in {submission}"
    else:
        reason = ""
    if reason:
        report.notes.append(reason)
        report.tasks = [TaskResult(t.name, t.title, t.points, 0, "error", reason) for t in selected]
        return report
    if missing:
        report.notes.append(f"missing file(s): {', '.join(missing)}")
    if root != submission:
        report.notes.append(f"student files found in {root.relative_to(submission)}/")

    with tempfile.TemporaryDirectory(prefix="minicnn-grade-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        snapshot = work / "snapshot"
        _copy(root, snapshot)
        for task in selected:
            if isinstance(time_limits, Mapping):
                limit = float(time_limits.get(task.name, time_limits.get("*", task.time_limit)))
            else:
                limit = float(time_limits or task.time_limit)
            try:
                result = _run_task(task, spec, snapshot, work, limit=limit, output_limit=output_limit,
                                   memory_limit_mb=memory_limit_mb, file_limit_mb=file_limit_mb,
                                   threads=threads, python=python or sys.executable)
            except (OSError, subprocess.SubprocessError, shutil.Error) as e:   # the grader's side failed
                result = TaskResult(task.name, task.title, task.points, 0, "error",
                                    f"the grader could not run this task: {type(e).__name__}: {e}")
            report.tasks.append(result)
    return report
