"""Task conv_forward: conv2d_naive_forward."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import CONV_CASES, conv_inputs, describe, reference, student


def test_hand_computed_example():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])            # x[i, j] - x[i+1, j+1] = -5 everywhere
    out = student.conv2d_naive_forward(x, w, np.array([2.0]), stride=1, pad=0)
    with case("x = arange(16) 4x4, w = [[1, 0], [0, -1]], b = 2"):
        assert_close("out", out, np.full((1, 1, 3, 3), -3.0))


def test_matches_reference_for_strides_and_padding():
    for x_shape, w_shape, stride, pad in CONV_CASES:
        x, w, b = conv_inputs(x_shape, w_shape)
        with case(describe(x_shape, w_shape, stride, pad)):
            assert_close("out", student.conv2d_naive_forward(x, w, b, stride, pad),
                         reference.conv2d_naive_forward(x, w, b, stride, pad))


def test_keeps_float32():
    x, w, b = conv_inputs((1, 2, 5, 5), (3, 2, 3, 3), dtype=np.float32)
    out = student.conv2d_naive_forward(x, w, b, 1, 1)
    assert out.dtype == np.float32, f"out has dtype {out.dtype} for float32 inputs; keep float32"
    assert_close("out", out, reference.conv2d_naive_forward(x, w, b, 1, 1), rtol=1e-3)
