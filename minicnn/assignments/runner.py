"""The grading subprocess: run one task's hidden tests against a copy of a submission.

    python -m minicnn.assignments.runner --result R.json --submission DIR HIDDEN.py [HIDDEN.py ...]

The grader (:mod:`minicnn.assignments.grader`) starts one of these per task, in a new process
group, with the submission copy as working directory, and kills the group when the task's
time limit runs out. This process

1. lowers its own resource limits (no core dumps, a cap on the size of any file written and,
   optionally, on memory), so a runaway submission cannot fill the disk or the RAM;
2. puts the hidden tests' folder and then the submission on ``sys.path``;
3. imports each hidden test file and calls its ``test_*`` functions in order, catching
   everything a submission can throw (including ``SystemExit``);
4. rewrites the result file after every test (atomically), so that after a timeout the grader
   still knows which test was running;
5. leaves with ``os._exit``, so that threads or atexit handlers left behind by the submission
   cannot keep it alive.

Result file::

    {"done": true, "running": null,
     "tests": [{"name": "test_conv_forward", "status": "passed" | "failed" | "error",
                "message": "...", "seconds": 0.12}, ...]}

"error" means the test file itself could not be imported (usually because the student's
module does not import); "failed" means a test raised (a wrong value, or an exception from the
submission such as NotImplementedError).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["main"]

MAX_MESSAGE = 2000   # characters kept of one test's failure message


def _set_limits(file_limit_mb: float, memory_limit_mb: float) -> None:
    """Lower this process's limits (POSIX only; elsewhere the wall-clock timeout still applies)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    limits = [(resource.RLIMIT_CORE, 0)]
    if file_limit_mb > 0:
        limits.append((resource.RLIMIT_FSIZE, int(file_limit_mb * 2**20)))
    if memory_limit_mb > 0:
        limits.append((resource.RLIMIT_AS, int(memory_limit_mb * 2**20)))
    for which, value in limits:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, hard))
        except (ValueError, OSError):  # e.g. RLIMIT_AS is not supported on macOS
            pass


def _inside(filename: str, folder: Path) -> bool:
    if filename.startswith("<"):          # <frozen importlib._bootstrap>, <string>, ...
        return False
    try:
        Path(filename).resolve().relative_to(folder)
        return True
    except (ValueError, OSError):
        return False


def describe_exception(exc: BaseException, submission: Path) -> str:
    """One readable paragraph: the exception, and where in the submission it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if _inside(f.filename, submission)]
    if isinstance(exc, SystemExit):
        text = f"the submission called exit({exc.code!r}); remove the exit() call"
    elif isinstance(exc, AssertionError) and str(exc) and not own:
        return str(exc)[:MAX_MESSAGE]          # a check from the tests: the message says it all
    elif isinstance(exc, AssertionError) and not own:
        last = frames[-1] if frames else None
        text = f"check failed: {last.line}" if last is not None else "check failed"
    elif isinstance(exc, SyntaxError):   # the formatted form shows the line and a caret
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    else:                                # the first public class: MemoryError, not _ArrayMemoryError
        name = next(c.__name__ for c in type(exc).__mro__ if not c.__name__.startswith("_"))
        text = f"{name}: {exc}" if str(exc) else name
    text = text.replace(str(submission) + os.sep, "")    # the temporary copy's path is noise
    if own:
        f = own[-1]
        where = f"{Path(f.filename).name}:{f.lineno}, in {f.name}"
        text += f" (at {where})" if isinstance(exc, NotImplementedError) else f" (at {where}: {f.line})"
    return text[:MAX_MESSAGE]


def _write(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def _tests_of(module: Any) -> list[tuple[str, Callable[[], Any]]]:
    """The ``test_*`` functions defined in ``module`` (not imported into it), in order."""
    return [(name, obj) for name, obj in vars(module).items()
            if name.startswith("test_") and inspect.isfunction(obj) and obj.__module__ == module.__name__]


def run(result_path: Path, submission: Path, hidden: Sequence[Path]) -> dict[str, Any]:
    from .checks import load_module

    state: dict[str, Any] = {"done": False, "running": None, "tests": []}
    # Hidden-test folders first (a submission cannot shadow the tests' helpers), then the submission.
    sys.path[:0] = list(dict.fromkeys(str(p.parent) for p in hidden)) + [str(submission)]
    for file in hidden:
        state["running"] = f"{file.name} (import)"
        _write(result_path, state)
        start = time.perf_counter()
        try:
            module = load_module(file, f"hidden_{file.stem}")
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # the student's module failed to import, exited, ...
            state["tests"].append({"name": file.stem, "status": "error",
                                   "seconds": round(time.perf_counter() - start, 3),
                                   "message": "could not import the tests: " + describe_exception(e, submission)})
            continue
        tests = _tests_of(module)
        if not tests:
            state["tests"].append({"name": file.stem, "status": "error", "seconds": 0.0,
                                   "message": f"{file.name} defines no test_* functions (grader setup)"})
        for name, test in tests:
            state["running"] = name
            _write(result_path, state)
            start = time.perf_counter()
            record = {"name": name, "status": "passed", "message": ""}
            try:
                test()
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                record.update(status="failed", message=describe_exception(e, submission))
            record["seconds"] = round(time.perf_counter() - start, 3)
            state["tests"].append(record)
    state.update(done=True, running=None)
    _write(result_path, state)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn.assignments.runner")
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--file-limit-mb", type=float, default=64.0)
    parser.add_argument("--memory-limit-mb", type=float, default=0.0)
    parser.add_argument("hidden", nargs="+", type=Path)
    args = parser.parse_args(argv)
    _set_limits(args.file_limit_mb, args.memory_limit_mb)
    sys.dont_write_bytecode = True       # never write __pycache__ into the package's hidden tests
    run(args.result.resolve(), args.submission.resolve(), [p.resolve() for p in args.hidden])
    return 0


if __name__ == "__main__":
    code = main()
    # Leave at once: a thread or an atexit handler left behind by the submission must not keep
    # this process alive after the result is written.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)
