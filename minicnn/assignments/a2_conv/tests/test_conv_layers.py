"""Visible tests for assignment 2: run them with  python -m pytest tests -q

They check small examples you can verify by hand, and your backward passes against numerical
gradients of your own forward passes. The hidden tests check more shapes, strides and padding.
"""
import numpy as np

from minicnn.assignments.checks import assert_close, check_gradient

import conv_layers


def test_conv_forward_hand_example():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))                              # sums of 2x2 windows
    out = conv_layers.conv2d_naive_forward(x, w, np.zeros(1), stride=2, pad=0)
    assert_close("out", out, np.array([[[[10.0, 18.0], [42.0, 50.0]]]]))


def test_conv_forward_padding_keeps_the_size():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    out = conv_layers.conv2d_naive_forward(x, w, np.zeros(4), stride=1, pad=1)
    assert out.shape == (2, 4, 5, 5)


def test_conv_backward_numerical_gradient():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 2, 2))
    dx, dw, db = conv_layers.conv2d_naive_backward(dout, x, w, stride=1, pad=0)

    def loss(x_, w_, b_):
        return np.sum(conv_layers.conv2d_naive_forward(x_, w_, b_, 1, 0) * dout)

    check_gradient("dx", lambda v: loss(v, w, b), x, dx)
    check_gradient("dw", lambda v: loss(x, v, b), w, dw)
    check_gradient("db", lambda v: loss(x, w, v), b, db)


def test_im2col_rows_are_windows():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = conv_layers.im2col(x, 2, 2, stride=1, pad=0)
    assert_close("cols", cols, np.array([[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]], dtype=float))


def test_col2im_adds_overlaps():
    cols = np.ones((4, 4))                                 # four 2x2 windows of a 3x3 image
    dx = conv_layers.col2im(cols, (1, 1, 3, 3), 2, 2, stride=1, pad=0)
    assert_close("dx", dx, np.array([[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]))


def test_max_pool_forward_and_backward():
    x = np.array([[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0],
                    [0.0, -1.0, 2.0, 2.5], [-2.0, -3.0, 2.0, 7.0]]]])
    assert_close("out", conv_layers.max_pool_forward(x, 2, 2), np.array([[[[4.0, 5.0], [0.0, 7.0]]]]))
    dx = conv_layers.max_pool_backward(np.ones((1, 1, 2, 2)), x, 2, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = expected[0, 0, 0, 2] = expected[0, 0, 2, 0] = expected[0, 0, 3, 3] = 1.0
    assert_close("dx", dx, expected)
