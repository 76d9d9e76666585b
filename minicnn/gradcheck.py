"""Gradient checking: compare backward() with finite differences, in float64.

The central difference

    df/dx_i  ~=  (f(x + h e_i) - f(x - h e_i)) / (2h)

has error O(h^2), so with h = 1e-6 in float64 it agrees with a correct analytic gradient
to about 1e-8 relative error.  The comparison uses CS231n's relative error

    rel_error(a, n) = |a - n| / max(1e-8, |a| + |n|)

reported per input as the maximum over the checked elements, with the index where it
occurs.  Three modes trade thoroughness for speed:

- ``"full"``: every element (2 forward passes per element) -- small inputs;
- ``"sparse"``: ``k`` random elements -- medium inputs;
- ``"directional"``: one random direction v: (f(x + h v) - f(x - h v)) / 2h  vs  grad . v
  (2 forward passes in all) -- VGG-sized layers.

A function with a non-scalar output is checked through L = sum(f(x) * r) for a fixed
random r, which exercises every output element with a single backward pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor

__all__ = ["numerical_gradient", "rel_error", "gradcheck", "GradcheckError", "GradcheckReport"]


def rel_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise |a - b| / max(1e-8, |a| + |b|) (CS231n's definition)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function of an array, element by element.

    ``x`` is modified in place during the sweep and restored afterwards (so it must be a
    writable float64 array for h = 1e-6 to be accurate).
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):  # x[i] works for any layout (x.reshape(-1) may be a copy)
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


@dataclass
class InputReport:
    """The check of one input: worst relative error, where, and the two values there."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_rel_error: float
    max_abs_error: float
    worst_index: tuple[int, ...] | None
    analytic: float
    numerical: float
    ok: bool

    def __str__(self) -> str:
        where = f" at index {self.worst_index}" if self.worst_index is not None else " (directional)"
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"{self.name} {self.shape}: {verdict}: max relative error {self.max_rel_error:.2e}{where} "
            f"(analytic {self.analytic:.6g}, numerical {self.numerical:.6g}; {self.checked} checked)"
        )


@dataclass
class GradcheckReport:
    inputs: list[InputReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.inputs)

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.inputs)


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when an analytic gradient disagrees with finite differences."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__("gradient check failed:\n" + str(report))
        self.report = report


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Sequence[Any],
    *,
    mode: str = "full",
    k: int = 20,
    h: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    seed: int = 0,
    names: Sequence[str] | None = None,
    raise_exception: bool = True,
) -> GradcheckReport:
    """Check ``f``'s backward against finite differences for every floating input.

    Args:
        f: a function of Tensors returning a Tensor (any shape).
        inputs: Tensors or arrays; each floating one is copied to float64 and checked.
            Non-floating inputs (e.g. integer labels) are passed through unchanged.
        mode: "full", "sparse" (``k`` random elements per input) or "directional".
        h: finite-difference step.
        rtol, atol: an element passes when its relative error is below ``rtol`` or its
            absolute error below ``atol`` (near-zero gradients make relative error noisy).
        seed: for the projection r, the sparse elements and the direction.
        raise_exception: raise ``GradcheckError`` on failure (else just return the report).

    Returns:
        a ``GradcheckReport``: per input, the max relative error, its index, the two values.
    """
    if mode not in ("full", "sparse", "directional"):
        raise ValueError(f"gradcheck: mode must be 'full', 'sparse' or 'directional', got {mode!r}")
    rng = np.random.default_rng(seed)
    arrays = [_as_float64(x) for x in inputs]
    checked = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype == np.float64]
    names = list(names) if names is not None else [f"input {i}" for i in range(len(arrays))]

    out_shape = _call(f, arrays, None).shape
    # projection L = sum(f(x) * r); for a scalar f, r = 1 so the report shows df/dx itself
    r = rng.standard_normal(out_shape) if int(np.prod(out_shape)) > 1 else np.ones(out_shape)

    def loss(values: list[Any]) -> float:
        with no_grad():
            return float(np.sum(_call(f, values, None).numpy().astype(np.float64) * r))

    # analytic gradients of L from one backward pass
    leaves = [Tensor(a, requires_grad=(i in checked)) if isinstance(a, np.ndarray) else a
              for i, a in enumerate(arrays)]
    out = f(*leaves)
    out.backward(r.astype(out.dtype))
    report = GradcheckReport()
    for i in checked:
        analytic = leaves[i].grad.numpy() if leaves[i].grad is not None else np.zeros_like(arrays[i])
        report.inputs.append(_check_one(names[i], arrays, i, analytic, loss, mode, k, h, rtol, atol, rng))
    if raise_exception and not report.ok:
        raise GradcheckError(report)
    return report


def _check_one(name, arrays, i, analytic, loss, mode, k, h, rtol, atol, rng) -> InputReport:
    x = arrays[i].copy()
    values = list(arrays)
    values[i] = x

    def at(x_new: np.ndarray) -> float:
        values[i] = x_new
        return loss(values)

    if mode == "directional":
        v = rng.standard_normal(x.shape)
        numerical = (at(x + h * v) - at(x - h * v)) / (2 * h)
        exact = float(np.sum(analytic * v))
        err = float(rel_error(exact, numerical))
        abs_err = abs(exact - numerical)
        return InputReport(name, x.shape, 1, err, abs_err, None, exact, numerical,
                           bool(err < rtol or abs_err < atol * max(1, np.sqrt(x.size))))
    if mode == "full" or x.size <= k:
        flat_ids = np.arange(x.size)
    else:
        flat_ids = rng.choice(x.size, size=k, replace=False)
    numerical = np.empty(len(flat_ids))
    flat = x.reshape(-1)
    for j, idx in enumerate(flat_ids):
        old = flat[idx]
        flat[idx] = old + h
        f_plus = at(x)
        flat[idx] = old - h
        f_minus = at(x)
        flat[idx] = old
        numerical[j] = (f_plus - f_minus) / (2 * h)
    exact = analytic.reshape(-1)[flat_ids]
    errors = rel_error(exact, numerical)
    abs_errors = np.abs(exact - numerical)
    failing = (errors >= rtol) & (abs_errors >= atol)
    worst = int(np.argmax(np.where(failing, errors, -1) if failing.any() else errors)) if len(errors) else 0
    return InputReport(
        name, x.shape, len(flat_ids),
        float(errors[worst]) if len(errors) else 0.0,
        float(abs_errors.max()) if len(errors) else 0.0,
        tuple(int(v) for v in np.unravel_index(flat_ids[worst], x.shape)) if len(errors) else None,
        float(exact[worst]) if len(errors) else 0.0,
        float(numerical[worst]) if len(errors) else 0.0,
        not bool(failing.any()),
    )


def _as_float64(x: Any) -> Any:
    data = x.data if isinstance(x, Tensor) else x
    if isinstance(data, (float, int)) and not isinstance(data, bool):
        data = np.asarray(data, dtype=np.float64) if isinstance(data, float) else data
    if isinstance(data, np.ndarray) and data.dtype.kind == "f":
        return data.astype(np.float64)
    return data


def _call(f: Callable[..., Tensor], values: list[Any], _: Any) -> Tensor:
    return f(*[Tensor(v) if isinstance(v, np.ndarray) else v for v in values])
