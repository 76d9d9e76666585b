"""The one exception every weight-file reader raises for bad input.

A weight file comes from outside the program (a download, a colleague, a checkpoint
from last year), so every reader treats its bytes as untrusted: a truncated file, a
header that lies about sizes, or a pickle that asks to run code must all end in the
same, catchable error -- never in a bare ``KeyError``, ``struct.error``,
``zipfile.BadZipFile`` or ``pickle.UnpicklingError`` from deep inside the parser.

Every message names the file, says what was wrong, and says what was expected, e.g.::

    vgg16.pth: tensor of size [64, 3, 3, 3] (offset 0, stride [27, 9, 3, 1]) needs
    elements up to 1728 of storage '3', which holds only 1000 float32 elements;
    expected offset + extent to fit inside the storage
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import IO, Union

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


class WeightFileError(ValueError):
    """A weight (or dataset) file is malformed, truncated, or unsupported."""


class UnsafePickleError(WeightFileError):
    """A pickle asked for a Python global that is not on the reader's allow-list.

    Raised *before* the global is looked up, so nothing named in the pickle runs.
    """


def source_name(source: PathOrFile) -> str:
    """A short human-readable name for a path or an open file (for error messages)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    if isinstance(name, (str, os.PathLike)):
        return os.fspath(name)
    return f"<{type(source).__name__}>"


# Errors that describe the *environment*, not the file's contents: a missing file or a
# permission problem is reported as itself, and running out of memory is never hidden.
_PASS_THROUGH = (FileNotFoundError, IsADirectoryError, PermissionError, MemoryError)


@contextlib.contextmanager
def reading(name: str, what: str) -> Iterator[None]:
    """Turn any unexpected parser exception into a ``WeightFileError`` naming the file.

    Readers wrap their parsing in ``with reading(name, "a PyTorch file"):`` so that a
    malformed input which slips past the explicit checks still fails with a clear,
    uniform error (the original exception is chained as ``__cause__``).
    """
    try:
        yield
    except (WeightFileError, *_PASS_THROUGH):
        raise
    except RecursionError as exc:
        raise WeightFileError(
            f"{name}: nesting too deep while reading {what}; expected a flat structure "
            "of named arrays"
        ) from exc
    except Exception as exc:  # untrusted input: every other failure means "malformed"
        raise WeightFileError(
            f"{name}: reading {what} failed ({type(exc).__name__}: {exc}); the file may "
            "be truncated, corrupted, or in a different format"
        ) from exc
