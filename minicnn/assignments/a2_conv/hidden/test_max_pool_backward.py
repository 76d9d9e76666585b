"""Task max_pool_backward."""
import numpy as np

from minicnn.assignments.checks import assert_close, case, check_gradient

from hidden_common import POOL_CASES, distinct_values, reference, student


def test_gradients_match_numerical_gradients():
    for x_shape, kernel, stride in POOL_CASES:
        x = distinct_values(x_shape, seed=13)
        dout = np.random.default_rng(14).standard_normal(reference.max_pool_forward(x, kernel, stride).shape)
        dx = student.max_pool_backward(dout, x, kernel, stride)
        with case(f"x {x_shape}, kernel={kernel}, stride={stride}"):
            check_gradient("dx", lambda v: float(np.sum(reference.max_pool_forward(v, kernel, stride) * dout)), x, dx)


def test_ties_go_to_the_first_maximum():
    x = np.ones((1, 1, 4, 4))
    dout = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    with case("all-equal input: each window's gradient goes to its top-left element"):
        assert_close("dx", student.max_pool_backward(dout, x, 2, 2), reference.max_pool_backward(dout, x, 2, 2))


def test_overlapping_windows_add_up():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0                                    # the max of all four 2x2 windows
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 10.0
    with case("3x3 input whose centre is the max of all four 2x2 windows (stride 1)"):
        assert_close("dx", student.max_pool_backward(dout, x, 2, 1), expected)
