"""Task broadcasting: unbroadcast, alone and inside + and * of the reference Tensor."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import check_op, reference, student

CASES = [((2, 3), (3,)), ((2, 3), (2, 1)), ((2, 3), ()), ((4, 2, 3), (1, 3)), ((4, 2, 3), (4, 1, 1)),
         ((4, 2, 3), (2, 3)), ((2, 3), (2, 3))]


def test_unbroadcast_sums_the_copies():
    grad = np.random.default_rng(1).standard_normal((4, 2, 3))
    for big, small in CASES:
        g = grad[tuple(slice(0, n) for n in big)] if len(big) == 3 else grad[0]
        expected = reference.unbroadcast(g, small)
        with case(f"unbroadcast(grad of shape {g.shape}, shape={small})"):
            assert_close("result", student.unbroadcast(g.copy(), small), expected)


def test_broadcasting_add_and_mul():
    reference.unbroadcast = student.unbroadcast          # the reference Tensor with your unbroadcast
    rng = np.random.default_rng(2)
    for big, small in CASES:
        a, b = rng.standard_normal(big), rng.standard_normal(small)
        check_op(f"a + b for shapes {big} and {small}", lambda x, y: x + y, lambda x, y: x + y, a, b,
                 module=reference)
        check_op(f"b * a for shapes {small} and {big}", lambda x, y: y * x, lambda x, y: y * x, a, b,
                 module=reference)
