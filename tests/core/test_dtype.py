"""dtype policy: float32 stays float32 (values and gradients), float64 works end to end.

NumPy 2 promotes ``float32_array * np.float64(2.0)`` (and ``* np.int64(2)``) to float64: a
NumPy scalar is not a "weak" Python scalar.  So every op with a second operand is also checked
with NumPy scalars there.
"""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import Tensor

from .op_cases import OP_CASES, OpCase


def _functions_in_graph(out: Tensor) -> list:
    """Every Function behind ``out`` (walking grad_fn.inputs), each once."""
    seen, stack, fns = set(), [out], []
    while stack:
        t = stack.pop()
        if t.grad_fn is not None and id(t.grad_fn) not in seen:
            seen.add(id(t.grad_fn))
            fns.append((t.grad_fn, t))
            stack.extend(t.grad_fn.inputs)
    return fns


def _float32_cases():
    return [c for c in OP_CASES if not c.name.startswith("astype")]  # those change dtype on purpose


@pytest.mark.parametrize("case", _float32_cases(), ids=str)
def test_float32_in_float32_out_values_and_every_backward(case: OpCase):
    xs = [Tensor(a.astype(np.float32), requires_grad=True) for a in case.arrays()]
    out = case.expr(minicnn, *xs)
    assert out.dtype == np.float32
    # each Function's own backward must return float32 (not rely on a final cast)
    for fn, produced in _functions_in_graph(out):
        grads = fn.backward(np.ones(produced.shape, dtype=produced.dtype))
        grads = grads if isinstance(grads, tuple) else (grads,)
        for g, inp in zip(grads, fn.inputs):
            if g is not None:
                assert g.dtype == inp.dtype, f"{type(fn).__name__}.backward gave {g.dtype} for a {inp.dtype} input"
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert all(x.grad.dtype == np.float32 for x in xs if x.grad is not None)


F64 = np.float64(2.0)
SCALAR_EXPRESSIONS = {
    "add": lambda x: x + F64,
    "radd": lambda x: F64 + x,
    "sub": lambda x: x - F64,
    "rsub": lambda x: F64 - x,
    "mul": lambda x: x * F64,
    "rmul": lambda x: F64 * x,
    "div": lambda x: x / F64,
    "rdiv": lambda x: F64 / x,
    "pow": lambda x: x**F64,
    "rpow": lambda x: F64**x,
    "python_float": lambda x: 0.5 * x + 1.5 - x / 3.0,
    "python_int": lambda x: 2 * x + 1 - x**2,
    "maximum": lambda x: minicnn.maximum(x, F64),
    "minimum": lambda x: minicnn.minimum(F64, x),
    "where": lambda x: minicnn.where(x > 1, x, F64),
    "clip": lambda x: minicnn.clip(x, np.float64(0.5), F64),
    "pad": lambda x: minicnn.pad(x, 1, value=F64),
    "mul_np_int64": lambda x: x * np.int64(3),
    "div_np_prod": lambda x: x / np.prod(x.shape),  # np.prod gives an np.int64
    "rsub_np_int64": lambda x: np.int64(1) - x,
    "matmul_float32_array": lambda x: x @ np.ones(3, dtype=np.float32),
    "add_0d_float32_array": lambda x: x + np.float32(1.0),
}


@pytest.mark.parametrize("name", sorted(SCALAR_EXPRESSIONS))
def test_float64_and_python_scalars_do_not_promote_float32(name):
    x = Tensor(np.array([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]], dtype=np.float32), requires_grad=True)
    out = SCALAR_EXPRESSIONS[name](x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_ndarray_on_the_left_defers_to_tensor():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for out in (np.float64(2.0) + x, np.float64(2.0) * x, np.ones(3, dtype=np.float32) - x):
        assert isinstance(out, Tensor) and out.dtype == np.float32


def test_float64_end_to_end():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)))
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = Tensor(np.zeros(2), requires_grad=True)
    h = minicnn.relu(x @ w + b)
    loss = ((h - 1.0) ** 2).mean() + 0.1 * minicnn.sigmoid(h).var()
    assert h.dtype == loss.dtype == np.float64
    loss.backward()
    assert w.grad.dtype == b.grad.dtype == np.float64


def test_integer_data_cannot_require_grad():
    with pytest.raises(TypeError, match=r"floating-point.*int64.*dtype='float32'"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        minicnn.tensor([1, 2], requires_grad=True)
    assert Tensor([1, 2], dtype="float32", requires_grad=True).dtype == np.float32


@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2.5]], np.float32),
        (3, np.int64),
        ([1, 2], np.int64),
        ([True, False], np.bool_),
        (np.array([1.0]), np.float64),          # arrays keep their dtype
        (np.array([1.0], dtype=np.float16), np.float16),
        (np.array([1], dtype=np.int32), np.int32),
        (np.float64(1.0), np.float64),
    ],
)
def test_dtype_of_new_tensors(data, dtype):
    assert Tensor(data).dtype == dtype


def test_astype_between_floats_is_differentiable_and_casts_the_gradient_back():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_astype_to_integer_leaves_the_graph_like_torch():
    x = Tensor(np.array([1.7, -2.2], dtype=np.float32), requires_grad=True)
    for y in (x.long(), x.astype("int32"), (x > 0).astype("bool")):
        assert not y.requires_grad and y.grad_fn is None
    assert x.long().tolist() == [1, -2]
    assert (x > 0).float().dtype == np.float32
