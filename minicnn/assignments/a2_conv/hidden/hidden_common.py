"""Shared by the hidden tests of assignment 2: the reference module, the student's, the cases."""
from __future__ import annotations

import numpy as np

from minicnn.assignments.checks import load_reference

import conv_layers as student  # noqa: E402  (the submission's file; a broken file fails here)

reference = load_reference(__file__, "conv_layers")

# (x shape, w shape, stride, pad): square and rectangular, strided, padded, kernel = input.
CONV_CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0),
    ((2, 3, 7, 7), (2, 3, 3, 3), 2, 1),
    ((1, 2, 6, 8), (3, 2, 2, 4), 2, 0),
    ((3, 1, 5, 5), (2, 1, 5, 5), 1, 2),
]

# (x shape, kernel, stride): the usual 2x2/2, overlapping 3x3/2, and 2x2/1.
POOL_CASES = [((2, 3, 4, 6), 2, 2), ((2, 2, 7, 7), 3, 2), ((1, 3, 5, 5), 2, 1)]


def describe(x_shape, w_shape=None, stride=1, pad=0) -> str:
    w = f", w {w_shape}" if w_shape is not None else ""
    return f"x {x_shape}{w}, stride={stride}, pad={pad}"


def conv_inputs(x_shape, w_shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b


def distinct_values(shape, seed=0) -> np.ndarray:
    """A random permutation of spread-out values: no ties, so every window has one maximum."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape)
