"""Shared helpers for the minicnn.nn.functional tests: one PyTorch parity check for every op."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytest

import minicnn as mc
from minicnn import shapes


def _compare(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float, atol: float) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=name)


def assert_matches_torch(
    ours: Callable, theirs: Callable, arrays: Sequence[np.ndarray], *,
    grad: Sequence[bool] | None = None, rtol: float | None = None, atol: float | None = None,
    seed: int = 0,
) -> tuple[mc.Tensor, list]:
    """Run ``ours`` on minicnn Tensors and ``theirs`` on torch tensors made from the same arrays.

    Checks the output values, the output dtype (float32 stays float32), and the gradients
    of sum(output * r) for a fixed random r with respect to every input marked in ``grad``
    (default: every floating input).  Tolerances default by dtype.
    """
    torch = pytest.importorskip("torch")
    dtype = next(a.dtype for a in arrays if a.dtype.kind == "f")
    if rtol is None:
        rtol = 1e-4 if dtype == np.float32 else 1e-10
    if atol is None:
        atol = 1e-5 if dtype == np.float32 else 1e-12
    if grad is None:
        grad = [a.dtype.kind == "f" for a in arrays]
    ours_in = [mc.Tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad)]
    theirs_in = [torch.tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad)]
    y = ours(*ours_in)
    ty = theirs(*theirs_in)
    assert y.shape == tuple(ty.shape), f"output shape {y.shape}, torch {tuple(ty.shape)}"
    _compare("output", y.numpy(), ty.detach().numpy(), rtol, atol)
    assert y.dtype == ty.detach().numpy().dtype, f"output dtype {y.dtype}, torch {ty.dtype}"
    if any(grad):
        r = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
        (y * mc.Tensor(r)).sum().backward()
        (ty * torch.tensor(r)).sum().backward()
        for i, (a, b, g) in enumerate(zip(ours_in, theirs_in, grad)):
            if g:
                assert a.grad is not None, f"no gradient for input {i}"
                assert a.grad.dtype == a.dtype, f"gradient of input {i} is {a.grad.dtype}, input {a.dtype}"
                _compare(f"gradient of input {i}", a.grad.numpy(), b.grad.numpy(), rtol, atol)
    return y, ours_in
