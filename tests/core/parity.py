"""One parity helper for every op: the same expression in minicnn and PyTorch.

``assert_matches_torch(expr, arrays)`` builds ``expr(minicnn, *xs)`` and
``expr(torch, *xs)`` from the same input arrays, then compares

- the forward values, shapes and dtypes, and
- the gradient of every input, after backpropagating the same random upstream
  gradient g (i.e. the gradient of L = sum(out * g), which exercises every output element).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytest

import minicnn

# float64 results may differ only by summation order; float32 by rounding.
TOLERANCE = {np.dtype(np.float64): dict(rtol=1e-9, atol=1e-12), np.dtype(np.float32): dict(rtol=1e-5, atol=1e-5)}


def assert_matches_torch(
    expr: Callable,
    arrays: Sequence[np.ndarray],
    *,
    torch_expr: Callable | None = None,
    dtype: type = np.float64,
    seed: int = 0,
) -> None:
    """Assert ``expr(minicnn, *xs)`` equals ``(torch_expr or expr)(torch, *xs)`` in value and gradient."""
    torch = pytest.importorskip("torch")
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    xs = [minicnn.Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]

    out = expr(minicnn, *xs)
    expected = (torch_expr or expr)(torch, *ts)
    assert isinstance(out, minicnn.Tensor)
    assert out.shape == tuple(expected.shape), f"shape {out.shape} != torch {tuple(expected.shape)}"
    assert out.dtype == _numpy_dtype(expected.dtype), f"dtype {out.dtype} != torch {expected.dtype}"
    # the looser tolerance when anything in the computation is float32
    tol = TOLERANCE[min(np.dtype(dtype), out.dtype, key=lambda d: d.itemsize)]
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **tol, err_msg="forward values")

    g = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    expected.backward(torch.from_numpy(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert (x.grad is None) == (t.grad is None), f"input {i}: grad {x.grad} but torch grad {t.grad}"
        if t.grad is not None:
            assert x.grad.dtype == x.dtype, f"input {i}: grad dtype {x.grad.dtype} for a {x.dtype} input"
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **tol, err_msg=f"gradient of input {i}")


def _numpy_dtype(torch_dtype) -> np.dtype:
    return np.dtype(str(torch_dtype).removeprefix("torch."))
