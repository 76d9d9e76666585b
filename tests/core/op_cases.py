"""The op table: every differentiable op, written once for minicnn and PyTorch.

Each case is an expression ``expr(m, *xs)`` where ``m`` is the module (``minicnn`` or
``torch``), so ``lambda m, x, y: m.maximum(x, y)`` is the same line in both libraries (the
micrograd / tinygrad way).  Where PyTorch spells an op differently (``amax`` for max over
dims, ``F.pad`` with reversed pairs) the case carries a ``torch_expr``.

Inputs are drawn away from kinks (|x| at 0, clip bounds, ties in max/min) so finite
differences are valid; ties are tested on purpose, against PyTorch, in test_ops_torch.py.
The same table feeds the gradient checks, the PyTorch parity tests and the dtype tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Maker = Callable[[np.random.Generator], np.ndarray]


# ------------------------------------------------------------------ input makers
def normal(*shape: int) -> Maker:
    return lambda rng: rng.standard_normal(shape)


def positive(*shape: int) -> Maker:
    """Values in [0.5, 2): safe for log, sqrt and a ** b."""
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def away_from(*points: float, shape: tuple[int, ...], gap: float = 0.1) -> Maker:
    """Normal samples pushed at least ``gap`` away from each of ``points`` (kinks of the op)."""
    def make(rng: np.random.Generator) -> np.ndarray:
        x = rng.standard_normal(shape)
        for p in points:
            near = np.abs(x - p) < gap
            x = np.where(near, x + np.where(x >= p, gap, -gap), x)
        return x
    return make


def distinct(*shape: int) -> Maker:
    """A shuffled grid with spacing 0.1: no ties, so max/min have a unique winner."""
    def make(rng: np.random.Generator) -> np.ndarray:
        n = int(np.prod(shape))
        return ((rng.permutation(n) - n / 2) * 0.1).reshape(shape)
    return make


def apart(shape_a: tuple[int, ...], shape_b: tuple[int, ...], gap: float = 0.1):
    """Two normal arrays whose broadcast elements differ by at least ``gap`` (for maximum/minimum)."""
    def make(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        while True:
            a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
            if np.all(np.abs(a - b) >= gap):
                return a, b
    return make


@dataclass(frozen=True)
class OpCase:
    name: str
    expr: Callable                       # expr(m, *xs) for m = minicnn and m = torch
    inputs: tuple[Maker, ...] | Callable  # one maker per input, or one that makes them all
    torch_expr: Callable | None = None   # when PyTorch spells it differently
    gradcheck: bool = True               # False when the expression leaves float64

    def arrays(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        if callable(self.inputs):
            return list(self.inputs(rng))
        return [make(rng) for make in self.inputs]

    def __str__(self) -> str:
        return self.name


def _torch_pad(pairs: tuple[tuple[int, int], ...], value: float = 0.0):
    """minicnn.pad takes NumPy-style (before, after) per axis; F.pad takes them last axis first."""
    def pad(torch, x):
        flat = [n for pair in reversed(pairs) for n in pair]
        return torch.nn.functional.pad(x, flat, value=value)
    return pad


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])

C = OpCase
OP_CASES = [
    # ------------------------------------------------------------ arithmetic, broadcasting
    C("add", lambda m, x, y: x + y, (normal(2, 3), normal(3))),
    C("add_both_broadcast", lambda m, x, y: x + y, (normal(2, 1, 3), normal(4, 1))),
    C("add_python_float", lambda m, x: x + 2.5, (normal(2, 3),)),
    C("radd_python_float", lambda m, x: 2.5 + x, (normal(2, 3),)),
    C("sub", lambda m, x, y: x - y, (normal(2, 3), normal(2, 1))),
    C("rsub_python_float", lambda m, x: 1.5 - x, (normal(2, 3),)),
    C("mul", lambda m, x, y: x * y, (normal(3, 1), normal(1, 4))),
    C("rmul_python_float", lambda m, x: 3.0 * x, (normal(2, 3),)),
    C("div", lambda m, x, y: x / y, (normal(2, 3), away_from(0, shape=(3,), gap=0.5))),
    C("rdiv_python_float", lambda m, y: 2.0 / y, (away_from(0, shape=(2, 3), gap=0.5),)),
    C("pow_int_exponent", lambda m, x: x**2, (normal(2, 3),)),
    C("pow_float_exponent", lambda m, x: x**1.5, (positive(2, 3),)),
    C("pow_tensor_exponent", lambda m, x, y: x**y, (positive(2, 3), normal(3))),
    C("rpow_python_float", lambda m, x: 2.0**x, (normal(2, 3),)),
    C("pow_function", lambda m, x, y: m.pow(x, y), (positive(3, 1), normal(1, 2))),
    C("neg", lambda m, x: -x, (normal(2, 3),)),
    # ------------------------------------------------------------ matmul
    C("matmul_2d", lambda m, a, b: a @ b, (normal(2, 3), normal(3, 4))),
    C("matmul_function", lambda m, a, b: m.matmul(a, b), (normal(2, 3), normal(3, 4))),
    C("matmul_batched", lambda m, a, b: a @ b, (normal(2, 2, 3), normal(2, 3, 4))),
    C("matmul_batch_broadcast", lambda m, a, b: a @ b, (normal(2, 1, 2, 3), normal(3, 3, 2))),
    C("matmul_1d_2d", lambda m, a, b: a @ b, (normal(3), normal(3, 4))),
    C("matmul_2d_1d", lambda m, a, b: a @ b, (normal(2, 3), normal(3))),
    C("matmul_1d_1d", lambda m, a, b: a @ b, (normal(3), normal(3))),
    C("matmul_1d_batched", lambda m, a, b: a @ b, (normal(3), normal(2, 3, 4))),
    C("matmul_batched_1d", lambda m, a, b: a @ b, (normal(2, 2, 3), normal(3))),
    # ------------------------------------------------------------ elementwise functions
    C("exp", lambda m, x: x.exp(), (normal(2, 3),)),
    C("exp_function", lambda m, x: m.exp(x), (normal(2, 3),)),
    C("log", lambda m, x: x.log(), (positive(2, 3),)),
    C("sqrt", lambda m, x: m.sqrt(x), (positive(2, 3),)),
    C("abs", lambda m, x: m.abs(x), (away_from(0, shape=(2, 3)),)),
    C("tanh", lambda m, x: m.tanh(x), (normal(2, 3),)),
    C("sigmoid", lambda m, x: m.sigmoid(x * 4), (normal(2, 3),)),
    C("relu", lambda m, x: m.relu(x), (away_from(0, shape=(2, 3)),)),
    C("clip", lambda m, x: m.clip(x, -0.5, 0.5), (away_from(-0.5, 0.5, shape=(3, 4)),)),
    C("clip_min_only", lambda m, x: x.clip(min=0.2), (away_from(0.2, shape=(3, 4)),)),
    C("clamp_max_only", lambda m, x: x.clamp(max=-0.1), (away_from(-0.1, shape=(3, 4)),)),
    C("maximum", lambda m, x, y: m.maximum(x, y), apart((2, 3), (3,))),
    C("minimum", lambda m, x, y: m.minimum(x, y), apart((2, 1), (1, 3))),
    C("where", lambda m, c, x, y: m.where(c > 0, x, y),
      (away_from(0, shape=(2, 3)), normal(2, 3), normal(3))),
    C("where_same_shapes", lambda m, x, y: m.where(x > y, x, y), apart((3, 4), (3, 4))),
    # ------------------------------------------------------------ reductions
    C("sum_all", lambda m, x: x.sum(), (normal(2, 3, 4),)),
    C("sum_dim", lambda m, x: x.sum(1), (normal(2, 3, 4),)),
    C("sum_negative_dim", lambda m, x: x.sum(-1), (normal(2, 3, 4),)),
    C("sum_dims_keepdim", lambda m, x: x.sum((0, 2), keepdim=True), (normal(2, 3, 4),)),
    C("sum_empty_dims_is_all", lambda m, x: x.sum(dim=()), (normal(2, 3),)),
    C("sum_function", lambda m, x: m.sum(x, 0), (normal(2, 3),)),
    C("mean_all", lambda m, x: x.mean(), (normal(2, 3, 4),)),
    C("mean_dims", lambda m, x: x.mean(dim=(1, 2)), (normal(2, 3, 4),)),
    C("mean_dim_keepdim", lambda m, x: x.mean(0, keepdim=True), (normal(2, 3, 4),)),
    C("var_all", lambda m, x: x.var(), (normal(2, 3, 4),)),
    C("var_dim", lambda m, x: x.var(1), (normal(2, 3, 4),)),
    C("var_dims_keepdim", lambda m, x: x.var((0, 2), keepdim=True), (normal(2, 3, 4),)),
    C("var_biased", lambda m, x: x.var(-1, correction=0), (normal(2, 3, 4),)),
    C("max_all", lambda m, x: x.max(), (distinct(2, 3, 4),)),
    C("min_all", lambda m, x: m.min(x), (distinct(2, 3, 4),)),
    C("max_dim", lambda m, x: x.max(1), (distinct(2, 3, 4),), lambda t, x: x.amax(1)),
    C("max_dims_keepdim", lambda m, x: x.max((0, 2), keepdim=True), (distinct(2, 3, 4),),
      lambda t, x: x.amax((0, 2), keepdim=True)),
    C("min_dim", lambda m, x: x.min(-1), (distinct(2, 3, 4),), lambda t, x: x.amin(-1)),
    # ------------------------------------------------------------ shape
    C("reshape", lambda m, x: x.reshape(4, 6), (normal(2, 3, 4),)),
    C("reshape_tuple_minus_one", lambda m, x: x.reshape((3, -1)), (normal(2, 3, 4),)),
    C("view_flat", lambda m, x: x.view(-1), (normal(2, 3),)),
    C("permute", lambda m, x: x.permute(2, 0, 1), (normal(2, 3, 4),)),
    C("permute_tuple_negative", lambda m, x: x.permute((-1, 0, 1)), (normal(2, 3, 4),)),
    C("transpose", lambda m, x: x.transpose(0, 2), (normal(2, 3, 4),)),
    C("T", lambda m, x: x.T, (normal(2, 3),)),
    C("flatten_from_1", lambda m, x: x.flatten(1), (normal(2, 3, 4),)),
    C("flatten_all", lambda m, x: x.flatten(), (normal(2, 3, 4),)),
    C("flatten_0_1", lambda m, x: x.flatten(0, 1), (normal(2, 3, 4),)),
    C("unsqueeze", lambda m, x: x.unsqueeze(1), (normal(2, 3),)),
    C("unsqueeze_negative", lambda m, x: x.unsqueeze(-1), (normal(2, 3),)),
    C("squeeze_dim", lambda m, x: x.squeeze(1), (normal(2, 1, 3),)),
    C("squeeze_all", lambda m, x: x.squeeze(), (normal(1, 2, 1, 3),)),
    # ------------------------------------------------------------ indexing
    C("getitem_int", lambda m, x: x[1], (normal(3, 4),)),
    C("getitem_slices", lambda m, x: x[:, 1:3], (normal(3, 4),)),
    C("getitem_ellipsis_step", lambda m, x: x[..., ::2], (normal(2, 3, 4),)),
    C("getitem_none_int_slice", lambda m, x: x[None, 0, :, 1], (normal(2, 3, 4),)),
    C("getitem_negative_int", lambda m, x: x[-1, 1::2], (normal(3, 4),)),
    C("getitem_repeated_list", lambda m, x: x[[0, 2, 0, 0]], (normal(3, 4),)),
    C("getitem_slice_and_list", lambda m, x: x[:, [1, 1, 3]], (normal(3, 4),)),
    C("getitem_two_lists", lambda m, x: x[[0, 1, 1], [2, 0, 2]], (normal(3, 4),)),
    C("getitem_tensor_index", lambda m, x: x[m.tensor([2, 0, 2])], (normal(3, 4),)),
    C("getitem_2d_tensor_index", lambda m, x: x[m.tensor([[0, 1], [1, 1]])], (normal(3, 4),)),
    C("getitem_bool_mask_from_x", lambda m, x: x[x > 0], (away_from(0, shape=(3, 4)),)),
    C("getitem_bool_mask_tensor", lambda m, x: x[m.tensor(MASK)], (normal(3, 4),)),
    C("getitem_bool_rows", lambda m, x: x[m.tensor([True, False, True])], (normal(3, 4),)),
    # ------------------------------------------------------------ joining, padding, casting
    C("cat", lambda m, x, y: m.cat([x, y], 1), (normal(2, 3), normal(2, 2))),
    C("cat_three_dim0", lambda m, x, y, z: m.cat([x, y, z]), (normal(1, 3), normal(2, 3), normal(1, 3))),
    C("cat_negative_dim", lambda m, x, y: m.cat([x, y], -1), (normal(2, 1, 2), normal(2, 1, 3))),
    C("concatenate", lambda m, x, y: m.concatenate([x, y], dim=0), (normal(2, 3), normal(1, 3))),
    C("stack", lambda m, x, y: m.stack([x, y]), (normal(2, 3), normal(2, 3))),
    C("stack_dim2", lambda m, x, y: m.stack([x, y], 2), (normal(2, 3), normal(2, 3))),
    C("stack_negative_dim", lambda m, x, y: m.stack([x, y], -1), (normal(2, 3), normal(2, 3))),
    C("pad", lambda m, x: m.pad(x, ((1, 0), (2, 1)), value=0.5), (normal(2, 3),),
      _torch_pad(((1, 0), (2, 1)), 0.5)),
    C("pad_int", lambda m, x: m.pad(x, 1), (normal(2, 3),), _torch_pad(((1, 1), (1, 1)))),
    C("astype_float64", lambda m, x: x.double() * 2, (normal(2, 3),)),
    C("astype_named", lambda m, x: x.astype("float64") * 2, (normal(2, 3),),
      lambda t, x: x.to(t.float64) * 2),
    C("astype_float32_roundtrip", lambda m, x, y: (x.float() * y.float()).double(),
      (normal(2, 3), normal(3)), gradcheck=False),
]
