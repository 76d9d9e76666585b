"""Every op matches PyTorch autograd: forward values and gradients, float32 and float64.

The op table (op_cases.py) gives fixed small cases; the hypothesis tests below draw random
shapes, including pairs of broadcast-compatible shapes with size-1 and missing axes.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minicnn

from .op_cases import OP_CASES, OpCase
from .parity import assert_matches_torch

torch = pytest.importorskip("torch")

FUZZ = settings(max_examples=25, deadline=None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_op_matches_torch(case: OpCase, dtype):
    assert_matches_torch(case.expr, case.arrays(), torch_expr=case.torch_expr, dtype=dtype)


# ---------------------------------------------------------------- ties, as PyTorch splits them
def test_maximum_minimum_split_ties_half_half():
    x = np.array([[1.0, 2.0, 3.0], [0.5, 2.0, -1.0]])
    y = np.array([1.0, 2.0, 0.0])  # ties at (0, 0), (0, 1), (1, 1)
    for op in ("maximum", "minimum"):
        assert_matches_torch(lambda m, a, b: getattr(m, op)(a, b), [x, y])


def test_maximum_tie_gives_each_input_half_by_hand():
    a = minicnn.Tensor([2.0], requires_grad=True)
    b = minicnn.Tensor([2.0], requires_grad=True)
    minicnn.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5] and b.grad.tolist() == [0.5]


def test_max_min_reductions_share_ties_evenly_like_amax():
    x = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    assert_matches_torch(lambda m, a: a.max(), [x])  # full max: torch splits evenly too
    assert_matches_torch(lambda m, a: a.min(), [x])
    assert_matches_torch(lambda m, a: a.max(1), [x], torch_expr=lambda t, a: a.amax(1))
    assert_matches_torch(lambda m, a: a.min(0, keepdim=True), [x], torch_expr=lambda t, a: a.amin(0, keepdim=True))


def test_relu_abs_clip_at_their_kinks_match_torch():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    assert_matches_torch(lambda m, a: m.relu(a), [x])
    assert_matches_torch(lambda m, a: m.abs(a), [x])
    assert_matches_torch(lambda m, a: m.clip(a, 0.5, 1.0), [x])  # bounds included, as in torch


def test_sigmoid_of_large_inputs_matches_torch_without_overflow():
    x = np.array([-800.0, -50.0, -1.0, 0.0, 1.0, 50.0, 800.0])
    with np.errstate(over="raise"):
        assert_matches_torch(lambda m, a: m.sigmoid(a), [x], dtype=np.float32)
        assert_matches_torch(lambda m, a: m.sigmoid(a), [x], dtype=np.float64)


def test_pow_gradient_of_exponent_at_zero_base_matches_torch():
    assert_matches_torch(lambda m, a, b: a**b, [np.array([0.0, 1.0, 2.0]), np.array([2.0, 2.0, 0.5])])


# ---------------------------------------------------------------- random shapes (hypothesis)
BINARY = {
    "add": lambda m, x, y: x + y,
    "sub": lambda m, x, y: x - y,
    "mul": lambda m, x, y: x * y,
    "div": lambda m, x, y: x / y,
    "pow": lambda m, x, y: x**y,
    "maximum": lambda m, x, y: m.maximum(x, y),
    "minimum": lambda m, x, y: m.minimum(x, y),
    "where": lambda m, x, y: m.where(x > y, x, y * 2),
}


def _inputs_for(op: str, shapes, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = (rng.standard_normal(s) for s in shapes)
    if op in ("div", "pow"):        # a denominator away from 0, a positive base
        y = np.sign(y) * (np.abs(y) + 0.5) if op == "div" else y
        x = np.abs(x) + 0.5 if op == "pow" else x
    return [x, y]


@FUZZ
@given(
    op=st.sampled_from(sorted(BINARY)),
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_binary_ops_broadcast_like_torch(op, shapes, seed, dtype):
    assert_matches_torch(BINARY[op], _inputs_for(op, shapes.input_shapes, seed), dtype=dtype, seed=seed)


@FUZZ
@given(
    batch=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    mkn=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    one_d=st.sampled_from([(False, False), (True, False), (False, True), (True, True)]),
    seed=st.integers(0, 2**16),
)
def test_matmul_random_shapes_like_torch(batch, mkn, one_d, seed):
    M, K, N = mkn
    a_shape = (K,) if one_d[0] else batch.input_shapes[0] + (M, K)
    b_shape = (K,) if one_d[1] else batch.input_shapes[1] + (K, N)
    rng = np.random.default_rng(seed)
    assert_matches_torch(lambda m, a, b: a @ b, [rng.standard_normal(a_shape), rng.standard_normal(b_shape)], seed=seed)


UNARY = {
    "exp": lambda m, x: x.exp(),
    "log": lambda m, x: (x.abs() + 0.5).log(),
    "sqrt": lambda m, x: (x * x + 0.5).sqrt(),
    "abs": lambda m, x: m.abs(x),
    "tanh": lambda m, x: m.tanh(x),
    "sigmoid": lambda m, x: m.sigmoid(x),
    "relu": lambda m, x: m.relu(x),
    "clip": lambda m, x: m.clip(x, -0.5, 0.7),
    "neg": lambda m, x: -x,
    "double": lambda m, x: x.double(),
}


@FUZZ
@given(
    op=st.sampled_from(sorted(UNARY)),
    shape=array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_unary_ops_random_shapes_like_torch(op, shape, seed, dtype):
    x = np.random.default_rng(seed).standard_normal(shape)
    assert_matches_torch(UNARY[op], [x], dtype=dtype, seed=seed)


@st.composite
def reduction_dims(draw):
    """A shape and a dim argument: None, (), one int (maybe negative) or a tuple of axes."""
    shape = draw(array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    nd = len(shape)
    if nd == 0:
        dim = draw(st.sampled_from([None, (), 0, -1]))
    else:
        axes = draw(st.lists(st.integers(-nd, nd - 1), unique_by=lambda d: d % nd, max_size=nd))
        dim = draw(st.sampled_from([None, tuple(axes), axes[0] if axes else ()]))
    return shape, dim


@FUZZ
@given(
    op=st.sampled_from(["sum", "mean", "var", "max", "min"]),
    shape_dim=reduction_dims(),
    keepdim=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_reductions_random_axes_like_torch(op, shape_dim, keepdim, seed):
    shape, dim = shape_dim
    x = np.random.default_rng(seed).standard_normal(shape)
    axes = range(len(shape)) if dim in (None, ()) else [dim] if isinstance(dim, int) else dim
    count = int(np.prod([shape[d] for d in axes])) if shape else 1
    kw = dict(dim=dim, keepdim=keepdim)
    if op == "var":
        kw["correction"] = 1 if count > 1 else 0  # n - 1 = 0 would divide by zero
    torch_name = {"max": "amax", "min": "amin"}.get(op, op)  # minicnn's max(dim) is torch's amax
    # dim=() means all axes in both; but torch 2.13's var *backward* then divides by 0 (gives inf)
    torch_kw = dict(kw, dim=None) if op == "var" and dim == () else kw
    assert_matches_torch(lambda m, a: getattr(a, op)(**kw), [x],
                         torch_expr=lambda t, a: getattr(a, torch_name)(**torch_kw), seed=seed)


@FUZZ
@given(
    shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
    data=st.data(),
)
def test_permute_and_reshape_random_like_torch(shape, data):
    order = data.draw(st.permutations(range(len(shape))))
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    assert_matches_torch(lambda m, a: a.permute(*order).reshape(-1, shape[0]) * 2, [x])


@FUZZ
@given(
    rows=st.integers(1, 5),
    index=st.lists(st.integers(-5, 4), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_getitem_repeated_integer_indices_scatter_add_like_torch(rows, index, seed):
    index = [i % rows for i in index]  # valid, and repeats are likely
    x = np.random.default_rng(seed).standard_normal((rows, 3))
    assert_matches_torch(lambda m, a: a[m.tensor(index)], [x], seed=seed)
    assert_matches_torch(lambda m, a: a[:, [i % 3 for i in index]], [x], seed=seed)
