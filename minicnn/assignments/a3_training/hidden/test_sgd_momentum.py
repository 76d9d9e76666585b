"""Task sgd_momentum: SGDMomentum.step, against the update written out by hand."""
import numpy as np

from minicnn.assignments.checks import assert_close, case

from hidden_common import parameter, student

GRADS = [np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, -1.0]), np.array([-1.0, 0.0, 2.0])]


def _run(lr, momentum, weight_decay, dtype=np.float64):
    p = parameter(np.array([1.0, 2.0, 3.0], dtype=dtype))
    opt = student.SGDMomentum([p], lr=lr, momentum=momentum, weight_decay=weight_decay)
    history = []
    for g in GRADS:
        from minicnn import Tensor

        p.grad = Tensor(g.astype(dtype))
        opt.step()
        history.append(np.array(p.data))
    return history


def _expected(lr, momentum, weight_decay):
    p, v, history = np.array([1.0, 2.0, 3.0]), np.zeros(3), []
    for g in GRADS:
        v = momentum * v + (g + weight_decay * p)
        p = p - lr * v
        history.append(p)
    return history


def test_plain_sgd_without_momentum():
    for i, (got, expected) in enumerate(zip(_run(0.1, 0.0, 0.0), _expected(0.1, 0.0, 0.0))):
        with case(f"momentum=0, weight_decay=0, after step {i + 1}"):
            assert_close("p", got, expected)


def test_momentum_accumulates_velocity():
    for i, (got, expected) in enumerate(zip(_run(0.1, 0.9, 0.0), _expected(0.1, 0.9, 0.0))):
        with case(f"lr=0.1, momentum=0.9, after step {i + 1} (v = momentum * v + g; p -= lr * v)"):
            assert_close("p", got, expected)


def test_weight_decay_is_added_to_the_gradient():
    for i, (got, expected) in enumerate(zip(_run(0.05, 0.5, 0.1), _expected(0.05, 0.5, 0.1))):
        with case(f"lr=0.05, momentum=0.5, weight_decay=0.1, after step {i + 1}"):
            assert_close("p", got, expected)


def test_parameters_without_grad_are_skipped_and_float32_kept():
    used = parameter(np.ones(2, dtype=np.float32), grad=np.ones(2, dtype=np.float32))
    unused = parameter(np.ones(2, dtype=np.float32))
    opt = student.SGDMomentum([used, unused], lr=0.5, momentum=0.9)
    opt.step()
    with case("a parameter whose grad is None"):
        assert_close("p", unused.data, np.ones(2))
    with case("a float32 parameter after one step of lr=0.5"):
        assert_close("p", used.data, np.full(2, 0.5))
    dtype = np.asarray(used.data).dtype
    assert dtype == np.float32, f"the float32 parameter became {dtype} after a step; keep float32"
