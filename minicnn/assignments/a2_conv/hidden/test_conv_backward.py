"""Task conv_backward: conv2d_naive_backward, checked against numerical gradients."""
import numpy as np

from minicnn.assignments.checks import assert_close, case, check_gradient, unpack

from hidden_common import CONV_CASES, conv_inputs, describe, reference, student

SMALL_CASES = [((2, 2, 4, 4), (3, 2, 3, 3), 1, 0), ((2, 2, 5, 5), (2, 2, 3, 3), 2, 1),
               ((2, 1, 4, 6), (2, 1, 2, 2), 2, 0)]


def _backward(dout, x, w, stride, pad):
    return unpack(student.conv2d_naive_backward(dout, x, w, stride, pad), ("dx", "dw", "db"),
                  "conv2d_naive_backward")


def _loss(dout, stride, pad):
    """L(x, w, b) = sum(conv(x, w, b) * dout), whose gradient wrt conv's output is dout."""
    return lambda x, w, b: float(np.sum(reference.conv2d_naive_forward(x, w, b, stride, pad) * dout))


def test_gradients_match_numerical_gradients():
    for x_shape, w_shape, stride, pad in SMALL_CASES:
        x, w, b = conv_inputs(x_shape, w_shape, seed=1)
        dout = np.random.default_rng(2).standard_normal(reference.conv2d_naive_forward(x, w, b, stride, pad).shape)
        dx, dw, db = _backward(dout, x, w, stride, pad)
        L = _loss(dout, stride, pad)
        with case(describe(x_shape, w_shape, stride, pad)):
            check_gradient("dx", lambda v: L(v, w, b), x, dx)
            check_gradient("dw", lambda v: L(x, v, b), w, dw)
            check_gradient("db", lambda v: L(x, w, v), b, db)


def test_matches_reference_for_strides_and_padding():
    for x_shape, w_shape, stride, pad in CONV_CASES:
        x, w, b = conv_inputs(x_shape, w_shape, seed=3)
        dout = np.random.default_rng(4).standard_normal(reference.conv2d_naive_forward(x, w, b, stride, pad).shape)
        got = _backward(dout, x, w, stride, pad)
        expected = reference.conv2d_naive_backward(dout, x, w, stride, pad)
        with case(describe(x_shape, w_shape, stride, pad)):
            for name, g, e in zip(("dx", "dw", "db"), got, expected):
                assert_close(name, g, e)
