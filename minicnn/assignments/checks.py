"""Helpers for assignment tests: comparisons whose failure messages teach.

A failed check says which array was wrong, by how much and where, e.g.::

    dw wrong: max relative error 0.83 at index (2, 0, 1, 1): got 0.1204, expected 0.7113

Relative error is CS231n's |a - e| / (|a| + |e|) (0 = equal, 1 = unrelated or opposite sign),
with the denominator floored at 1e-3 of the largest expected magnitude, so that entries that
should be (almost) zero are compared on the scale of the whole array and round-off in them
does not look like a huge relative error.

Both the visible tests (shipped to students) and the hidden tests import this module; it holds
no solutions.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = ["assert_close", "assert_shape", "check_gradient", "numerical_gradient", "rel_error",
           "unpack", "case", "load_module", "load_reference", "replaced_modules", "import_fresh"]


def rel_error(actual: Any, expected: Any) -> np.ndarray:
    """Elementwise |a - e| / max(|a| + |e|, 1e-3 * max|e|, 1e-12), in float64."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    floor = max(1e-3 * float(np.max(np.abs(e), initial=0.0)), 1e-12)
    return np.abs(a - e) / np.maximum(np.abs(a) + np.abs(e), floor)


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...] | int:
    idx = tuple(int(i) for i in np.unravel_index(flat, shape))
    return idx[0] if len(idx) == 1 else idx


def assert_shape(name: str, actual: Any, shape: Sequence[int]) -> np.ndarray:
    """``actual`` as an array of exactly ``shape``; otherwise an AssertionError naming ``name``."""
    if actual is None:
        raise AssertionError(f"{name} is None: expected an array of shape {tuple(shape)} "
                             f"(did you forget to return it?)")
    try:
        arr = np.asarray(actual)
    except Exception as e:  # an object NumPy cannot turn into an array
        raise AssertionError(f"{name} is a {type(actual).__name__}, not an array: {e}") from None
    if arr.shape != tuple(shape):
        raise AssertionError(f"{name} has shape {arr.shape} but should have shape {tuple(shape)}")
    return arr


def assert_close(name: str, actual: Any, expected: Any, *, rtol: float = 1e-5,
                 atol: float = 0.0) -> None:
    """Check ``actual`` against ``expected`` elementwise; fail with the worst index and values.

    An element passes when its relative error is at most ``rtol`` or its absolute error at
    most ``atol``.
    """
    expected = np.asarray(expected)
    arr = assert_shape(name, actual, expected.shape)
    if arr.dtype.kind not in "biuf":
        raise AssertionError(f"{name} has dtype {arr.dtype}; expected numbers like {expected.dtype}")
    arr64 = arr.astype(np.float64)
    bad_values = ~np.isfinite(arr64)
    if bad_values.any() and np.isfinite(expected.astype(np.float64)).all():
        i = _index(int(np.argmax(bad_values)), arr.shape) if arr.ndim else ()
        raise AssertionError(f"{name} contains {arr64[i] if arr.ndim else arr64} at index {i}; "
                             f"expected {expected[i] if arr.ndim else expected}")
    err = rel_error(arr64, expected)
    ok = (err <= rtol) | (np.abs(arr64 - expected) <= atol)
    if not ok.all():
        worst = np.where(ok, 0.0, err)
        flat = int(np.argmax(worst))
        if arr.ndim == 0:
            raise AssertionError(f"{name} wrong: got {float(arr64):.6g}, expected {float(expected):.6g} "
                                 f"(relative error {float(err):.2g})")
        i = _index(flat, arr.shape)
        n_bad = int((~ok).sum())
        raise AssertionError(
            f"{name} wrong: max relative error {float(worst.flat[flat]):.2g} at index {i}: "
            f"got {arr64.flat[flat]:.6g}, expected {float(expected.flat[flat]):.6g} "
            f"({n_bad} of {arr.size} entries off by more than {rtol:g})")


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for every i, in float64.

    ``x`` is copied to float64 first, so the caller's array is never touched.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def check_gradient(name: str, f: Callable[[np.ndarray], float], x: np.ndarray, analytic: Any, *,
                   rtol: float = 1e-5, h: float = 1e-6) -> None:
    """Compare an analytic gradient of the scalar ``f`` at ``x`` with central differences."""
    numeric = numerical_gradient(f, x, h)
    try:
        assert_close(name, analytic, numeric, rtol=rtol, atol=1e-8)
    except AssertionError as e:
        raise AssertionError(f"{e} [compared with a numerical gradient]") from None


def unpack(result: Any, names: Sequence[str], function: str) -> tuple[Any, ...]:
    """Check that ``function`` returned a tuple of len(names) values and return it."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = f"a {type(result).__name__}" if not isinstance(result, (tuple, list)) else f"{len(result)} values"
        raise AssertionError(f"{function} must return {len(names)} values ({', '.join(names)}), got {got}")
    return tuple(result)


@contextlib.contextmanager
def case(description: str) -> Iterator[None]:
    """Prefix the message of a failed check with the case it was checking::

        with case("stride=2, pad=1, x (2, 3, 7, 7)"):
            assert_close("out", out, expected)
        # AssertionError: stride=2, pad=1, x (2, 3, 7, 7): out wrong: max relative error ...
    """
    try:
        yield
    except AssertionError as e:
        e.args = (f"{description}: {e}",)     # same exception: keeps the traceback into the submission
        raise


def load_module(path: str | Path, name: str) -> ModuleType:
    """Import the file ``path`` as a fresh module called ``name`` (registered in sys.modules)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_reference(test_file: str | Path, module: str) -> ModuleType:
    """The reference solution ``<assignment>/<module>.py`` for a hidden test in ``<assignment>/hidden/``.

    It is imported as ``reference_<module>``, so it never clashes with the student's module.
    """
    root = Path(test_file).resolve().parent.parent
    return load_module(root / f"{module}.py", f"reference_{module}")


@contextlib.contextmanager
def replaced_modules(**modules: ModuleType) -> Iterator[None]:
    """Make ``import name`` return the given module objects inside the block.

    Used to grade one file with the reference version of the files it imports, so a mistake
    in an earlier task is not counted twice::

        with replaced_modules(tiny_tensor=reference):
            mlp = import_fresh("mlp")
    """
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def import_fresh(name: str) -> ModuleType:
    """``import name``, re-executing the module even if it was imported before."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)
