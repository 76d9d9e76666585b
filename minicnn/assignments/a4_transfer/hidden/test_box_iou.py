"""Task box_iou."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import reference, student


def test_hand_computed_cases():
    a = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 4, 4], [0, 0, 1, 1]], dtype=float)
    b = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [2, 0, 4, 2], [5, 5, 6, 6], [1, 1, 2, 2], [0.5, 0, 1.5, 1]], dtype=float)
    expected = np.array([1.0, 1 / 7, 0.0, 0.0, 1 / 16, 1 / 3])
    names = "identical, overlapping by a corner, touching edges, far apart, one inside the other, half-shifted"
    with case(f"boxes: {names}"):
        assert_close("iou", student.box_iou(a, b), expected)


def test_matches_reference_and_is_symmetric():
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 1, (50, 2, 2))
    a = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)    # (x1, y1, x2, y2)
    shift = rng.uniform(-0.3, 0.3, (50, 4))
    b = a + shift
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 0.01)
    with case("50 random box pairs"):
        assert_close("iou(a, b)", student.box_iou(a, b), reference.box_iou(a, b))
        assert_close("iou(b, a)", student.box_iou(b, a), reference.box_iou(a, b))
