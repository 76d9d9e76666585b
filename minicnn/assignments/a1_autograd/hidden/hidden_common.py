"""Shared by the hidden tests of assignment 1: the student's tiny_tensor, the reference, and
check_op, which checks one operation's forward value and every input's gradient."""
from __future__ import annotations

from typing import Callable

import numpy as np

from minicnn.assignments.checks import assert_close, assert_shape, check_gradient, load_reference

import tiny_tensor as student  # the submission's file; a broken file fails here

reference = load_reference(__file__, "tiny_tensor")


def check_op(name: str, tensor_fn: Callable, numpy_fn: Callable, *inputs: np.ndarray,
             module=student, seed: int = 0) -> None:
    """Forward value of tensor_fn(*Tensors) vs numpy_fn(*arrays); each input's .grad vs a
    numerical gradient of sum(numpy_fn(...) * upstream) for a random upstream gradient."""
    tensors = [module.Tensor(x.copy()) for x in inputs]
    out = tensor_fn(*tensors)
    expected = numpy_fn(*inputs)
    assert_close(f"{name}: forward value", getattr(out, "data", None), expected)
    upstream = np.random.default_rng(seed).standard_normal(np.shape(expected))
    out.backward(upstream)
    for i, (t, x) in enumerate(zip(tensors, inputs)):
        def loss(v: np.ndarray, i: int = i) -> float:
            args = list(inputs)
            args[i] = v
            return float(np.sum(numpy_fn(*args) * upstream))

        assert_shape(f"{name}: grad of input {i}", t.grad, x.shape)
        check_gradient(f"{name}: grad of input {i}", loss, x, t.grad)
