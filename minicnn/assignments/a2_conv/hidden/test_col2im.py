"""Task col2im: the adjoint of im2col."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import CONV_CASES, describe, reference, student


def _cols(x_shape, w_shape, stride, pad, seed):
    KH, KW = w_shape[2:]
    n_rows = reference.im2col(np.zeros(x_shape), KH, KW, stride, pad).shape[0]
    return np.random.default_rng(seed).standard_normal((n_rows, x_shape[1] * KH * KW))


def test_matches_reference():
    for x_shape, w_shape, stride, pad in CONV_CASES:
        cols = _cols(x_shape, w_shape, stride, pad, seed=8)
        KH, KW = w_shape[2:]
        with case(describe(x_shape, w_shape, stride, pad)):
            assert_close("dx", student.col2im(cols, x_shape, KH, KW, stride, pad),
                         reference.col2im(cols, x_shape, KH, KW, stride, pad))


def test_is_the_adjoint_of_im2col():
    # <im2col(x), cols> == <x, col2im(cols)>: overlapping windows must add up, padding dropped.
    x_shape, w_shape, stride, pad = (2, 2, 5, 5), (1, 2, 3, 3), 1, 1
    x = np.random.default_rng(9).standard_normal(x_shape)
    cols = _cols(x_shape, w_shape, stride, pad, seed=10)
    lhs = float(np.sum(reference.im2col(x, 3, 3, stride, pad) * cols))
    rhs = float(np.sum(x * np.asarray(student.col2im(cols, x_shape, 3, 3, stride, pad))))
    with case(f"sum(im2col(x) * cols) vs sum(x * col2im(cols)), {describe(x_shape, w_shape, stride, pad)}"):
        assert_close("sum(x * col2im(cols))", rhs, lhs)
