"""Task max_pool_forward."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import POOL_CASES, describe, distinct_values, reference, student


def test_hand_computed_example():
    x = np.array([[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0],
                    [0.0, -1.0, 2.0, 2.0], [-2.0, -3.0, 2.0, 7.0]]]])
    with case("x 4x4, kernel=2, stride=2"):
        assert_close("out", student.max_pool_forward(x, 2, 2), np.array([[[[4.0, 5.0], [0.0, 7.0]]]]))


def test_matches_reference_including_overlapping_windows():
    for x_shape, kernel, stride in POOL_CASES:
        x = distinct_values(x_shape, seed=11)
        with case(f"x {x_shape}, kernel={kernel}, stride={stride}"):
            assert_close("out", student.max_pool_forward(x, kernel, stride),
                         reference.max_pool_forward(x, kernel, stride))


def test_negative_inputs_and_float32():
    x = -np.abs(distinct_values((1, 2, 4, 4), seed=12)).astype(np.float32) - 1
    out = student.max_pool_forward(x, 2, 2)
    assert out.dtype == np.float32, f"out has dtype {out.dtype} for a float32 x; keep float32"
    with case("all-negative float32 input (a max that starts from 0 is wrong)"):
        assert_close("out", out, reference.max_pool_forward(x, 2, 2))
