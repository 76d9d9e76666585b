"""Read an untrusted weight file in a child process, with a time limit and a memory cap.

Why a process: every reader in ``minicnn.io`` checks sizes before it allocates and turns
malformed input into ``WeightFileError``, but two formats are parsed by C libraries we do not
control -- libhdf5 (through h5py) for ``.h5`` and protobuf for ``.onnx``. libhdf5 trusts the
file's internal structure, and some corrupted files make it loop forever (fuzzing minicnn's
Keras reader meets roughly one in a thousand damaged files that hangs inside libhdf5's
attribute code; see docs/safety.md). A hang in C code cannot be interrupted from Python --
no exception, no signal handler runs -- so the only reliable guard is a separate process that
can be killed::

    >>> wf = read_keras_h5("downloaded.h5", timeout=60)          # or
    >>> wf = read_weights("from_a_stranger.onnx", timeout=60)

The child reads the file with the ordinary reader, under ``setrlimit(RLIMIT_AS)`` (POSIX) so a
runaway C allocation fails instead of exhausting the machine, and hands the arrays back as a
minicnn ``.npz`` (SHA-256 checked on load, no pickle). What the parent sees:

    the child finishes      -> the same ``WeightFile`` the in-process reader returns
    the child refuses       -> ``WeightFileError`` with the child's message
    ``timeout`` passes      -> the child is killed; ``WeightFileError`` ("did not finish")
    the child dies          -> ``WeightFileError`` naming the exit status (e.g. a segfault)

It costs a process start (about half a second) and one copy of the arrays through a
temporary file, so it is opt-in: the weight files minicnn downloads itself are pinned by
SHA-256 and read in-process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from minicnn.io._fileio import MAX_EXPANSION
from minicnn.io.errors import WeightFileError
from minicnn.io.weight_file import WeightFile

__all__ = ["read_isolated", "limit_address_space"]

_REFUSED = 3          # the child's exit status when the reader raised WeightFileError
_BASE_MEMORY_MB = 256  # address space allowed above the child's baseline, plus the arrays


def read_isolated(format: str, path: str | os.PathLike[str], timeout: float,
                  **options: Any) -> WeightFile:
    """Run the reader of ``format`` on ``path`` in a child process; see the module docstring.

    Args:
        format: a ``minicnn.io`` format name: ``"torch"``, ``"keras_h5"``, ``"keras"``,
            ``"safetensors"``, ``"onnx"`` or ``"npz"``.
        path: the file (must exist).
        timeout: seconds the child may take, process start included (about 0.5 s).
        **options: JSON-serializable keyword arguments for the reader (e.g. ``key`` for
            ``read_torch``, ``layer_classes`` for ``read_keras_h5``).

    Raises:
        WeightFileError: the reader refused the file, or the child timed out or died.
    """
    from minicnn.io import _READERS

    name = os.fspath(path)
    size = os.path.getsize(name)  # FileNotFoundError here, in the caller's process
    if format not in _READERS:
        raise ValueError(f"read_isolated: unknown format {format!r}; expected one of {sorted(_READERS)}")
    if not timeout > 0:
        raise ValueError(f"read_isolated: timeout must be a positive number of seconds, got {timeout!r}")
    # The arrays may take up to MAX_EXPANSION x the file (see OutputBudget), plus working room.
    memory_mb = _BASE_MEMORY_MB + (MAX_EXPANSION + 2) * size // 2**20
    with tempfile.TemporaryDirectory(prefix="minicnn-isolated-") as folder:
        out = Path(folder) / "arrays.npz"
        command = [sys.executable, "-m", "minicnn.io.isolated", format, os.path.abspath(name),
                   str(out), json.dumps(options), str(memory_mb)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, env=_child_env())
        except subprocess.TimeoutExpired:  # run() has killed the child already
            raise WeightFileError(
                f"{name}: reading did not finish within {timeout} s, so the reader process was "
                "killed; the file is probably corrupted (libhdf5, for one, can loop forever on a "
                "damaged .h5). If it is a large, healthy file, pass a longer timeout") from None
        result_file = Path(folder) / "result.json"
        if done.returncode not in (0, _REFUSED) or not result_file.exists():
            message = done.stderr.decode("utf-8", errors="replace").strip()
            if "ImportError" in message:  # e.g. h5py missing: the reader's own message
                raise ImportError(message.splitlines()[-1].removeprefix("ImportError: "))
            raise WeightFileError(
                f"{name}: the reader process failed with exit status {done.returncode} (a "
                f"negative status is the signal that killed it); its last output: "
                f"{message[-500:] or '(none)'}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
        if done.returncode == _REFUSED:
            raise WeightFileError(result["error"])
        from minicnn.io.npz import load_npz

        arrays, _ = load_npz(out, require_manifest=True)  # SHA-256 checked, no pickle
    return WeightFile(arrays, result["format"], result["meta"], name)


def _child_env() -> dict[str, str]:
    """The caller's environment, with minicnn's folder on PYTHONPATH as a fallback."""
    import minicnn

    root = str(Path(minicnn.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": path + os.pathsep + root if path else root}


# ------------------------------------------------------------------------ the child
def limit_address_space(extra_mb: int) -> int | None:
    """Cap this process's address space at what it uses now plus ``extra_mb`` MB (Linux).

    Afterwards an allocation past the cap fails at once with ``MemoryError`` (or a C
    library's "cannot allocate"), instead of swapping the machine to a halt. Returns the cap
    in bytes, or ``None`` where it cannot be set (no ``RLIMIT_AS`` or no ``/proc``:
    Windows, macOS); the readers' own size checks still apply there.
    """
    try:
        import resource

        status = Path("/proc/self/status").read_text()
    except (ImportError, OSError):
        return None
    vm = next(int(line.split()[1]) * 1024 for line in status.splitlines()
              if line.startswith("VmSize:"))  # kB, the address space in use now
    limit = vm + extra_mb * 2**20
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


# The C libraries some readers load, imported before the baseline is measured.
_LIBRARIES = {"keras_h5": "h5py", "keras": "h5py", "onnx": "onnx.numpy_helper"}


def _child(format: str, path: str, out: str, options: dict[str, Any], memory_mb: int) -> int:
    import importlib

    from minicnn.io import _READERS
    from minicnn.io.npz import save_npz

    if format in _LIBRARIES:
        try:
            importlib.import_module(_LIBRARIES[format])
        except ImportError:
            pass                        # the reader raises its own ImportError with the extra
    limit_address_space(memory_mb)
    result_file = Path(out).with_name("result.json")
    try:
        wf = _READERS[format](path, **options)
    except WeightFileError as exc:
        result_file.write_text(json.dumps({"error": str(exc)}), encoding="utf-8")
        return _REFUSED
    save_npz(out, wf.arrays)
    result = {"format": wf.format, "meta": wf.meta}
    result_file.write_text(json.dumps(result, default=repr), encoding="utf-8")
    return 0


if __name__ == "__main__":
    fmt, file, target, opts, mb = sys.argv[1:6]
    sys.exit(_child(fmt, file, target, json.loads(opts), int(mb)))
