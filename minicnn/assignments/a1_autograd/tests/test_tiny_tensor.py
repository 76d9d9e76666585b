"""Visible tests for assignment 1: run them with  python -m pytest tests -q

Small examples you can check by hand. The hidden tests check every operation against
numerical gradients, more broadcasting shapes, and the MLP's accuracy on held-out digits.
"""
import numpy as np

from minicnn.assignments.checks import assert_close

from tiny_tensor import Tensor, unbroadcast


def test_add_and_mul_gradients():
    a, b = Tensor([2.0, 3.0]), Tensor([5.0, 7.0])
    out = a * b + a                                   # d/da = b + 1, d/db = a
    out.backward(np.ones(2))
    assert_close("out", out.data, [12.0, 24.0])
    assert_close("a.grad", a.grad, [6.0, 8.0])
    assert_close("b.grad", b.grad, [2.0, 3.0])


def test_relu_exp_log_pow():
    x = Tensor([-1.0, 2.0])
    x.relu().sum().backward()
    assert_close("relu grad", x.grad, [0.0, 1.0])
    y = Tensor([1.0, 2.0])
    (y.exp().log() + y ** 2).sum().backward()         # d/dy (y + y^2) = 1 + 2y
    assert_close("grad", y.grad, [3.0, 5.0])


def test_unbroadcast_shapes():
    g = np.ones((2, 3))
    assert_close("to (3,)", unbroadcast(g, (3,)), [2.0, 2.0, 2.0])
    assert_close("to (2, 1)", unbroadcast(g, (2, 1)), [[3.0], [3.0]])
    assert_close("to ()", unbroadcast(g, ()), 6.0)


def test_matmul_gradients():
    a = Tensor([[1.0, 2.0]])                          # (1, 2)
    w = Tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])    # (2, 3)
    out = a @ w
    out.backward(np.ones((1, 3)))
    assert_close("out", out.data, [[1.0, 2.0, 8.0]])
    assert_close("a.grad", a.grad, [[3.0, 4.0]])
    assert_close("w.grad", w.grad, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])


def test_mlp_trains_on_a_few_digits():
    from minicnn.data.digits import load_digits

    import mlp

    x, y = load_digits("train")
    model = mlp.train_mlp(x[:500].reshape(500, -1), y[:500])
    accuracy = np.mean(model.predict(x[:500].reshape(500, -1)) == y[:500])
    assert accuracy > 0.8, f"training accuracy {accuracy:.1%} on 500 digits"
