"""Task im2col."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import CONV_CASES, conv_inputs, describe, reference, student


def test_matches_reference_layout():
    for x_shape, w_shape, stride, pad in CONV_CASES:
        x, _, _ = conv_inputs(x_shape, w_shape, seed=5)
        KH, KW = w_shape[2:]
        with case(describe(x_shape, w_shape, stride, pad)):
            assert_close("cols", student.im2col(x, KH, KW, stride, pad), reference.im2col(x, KH, KW, stride, pad))


def test_convolution_as_one_matrix_product():
    x_shape, w_shape, stride, pad = CONV_CASES[1]
    x, w, b = conv_inputs(x_shape, w_shape, seed=6)
    N, F = x_shape[0], w_shape[0]
    cols = student.im2col(x, w_shape[2], w_shape[3], stride, pad)
    expected = reference.conv2d_naive_forward(x, w, b, stride, pad)
    OH, OW = expected.shape[2:]
    out = (np.asarray(cols) @ w.reshape(F, -1).T + b).reshape(N, OH, OW, F).transpose(0, 3, 1, 2)
    with case(f"cols @ w.reshape(F, -1).T as a convolution, {describe(x_shape, w_shape, stride, pad)}"):
        assert_close("out", out, expected)


def test_keeps_float32():
    x = np.random.default_rng(7).standard_normal((2, 3, 5, 5)).astype(np.float32)
    cols = student.im2col(x, 3, 3, 1, 1)
    assert cols.dtype == np.float32, f"cols has dtype {cols.dtype} for a float32 x; keep float32"
