"""Task matmul: (N, K) @ (K, M), forward and backward."""
import numpy as np

from minicnn.assignments.checks import assert_close

from hidden_common import check_op, student


def test_matmul_forward_and_gradients():
    rng = np.random.default_rng(3)
    for n, k, m in ((3, 4, 2), (1, 5, 1), (6, 2, 3)):
        a, b = rng.standard_normal((n, k)), rng.standard_normal((k, m))
        check_op(f"a @ b for {a.shape} @ {b.shape}", lambda x, y: x @ y, lambda x, y: x @ y, a, b)


def test_matmul_with_an_array_operand():
    rng = np.random.default_rng(4)
    a, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    t = student.Tensor(a)
    out = t @ w
    assert_close("(Tensor @ ndarray): forward value", out.data, a @ w)
    out.backward(np.ones((3, 2)))
    assert_close("(Tensor @ ndarray): grad of the Tensor", t.grad, np.ones((3, 2)) @ w.T)
