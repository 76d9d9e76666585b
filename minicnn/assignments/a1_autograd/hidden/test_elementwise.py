"""Task elementwise: +, *, **, relu, exp, log and sum, forward and backward (same shapes).

The reference unbroadcast is used here, so a mistake in task 2 is not counted twice.
"""
import numpy as np

from hidden_common import check_op, reference, student

student.unbroadcast = reference.unbroadcast

rng = np.random.default_rng(0)
A, B = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
POSITIVE = rng.uniform(0.5, 2.0, (3, 4))
AWAY_FROM_ZERO = np.where(np.abs(A) < 0.1, 0.5, A)        # relu' is undefined at 0


def test_add():
    check_op("a + b", lambda a, b: a + b, lambda a, b: a + b, A, B)


def test_mul():
    check_op("a * b", lambda a, b: a * b, lambda a, b: a * b, A, B)


def test_pow():
    for p in (2, 3, -1.0, 0.5):
        check_op(f"a ** {p}", lambda a: a ** p, lambda a: a ** p, POSITIVE)


def test_relu():
    check_op("a.relu()", lambda a: a.relu(), lambda a: np.maximum(a, 0), AWAY_FROM_ZERO)


def test_exp_and_log():
    check_op("a.exp()", lambda a: a.exp(), np.exp, A)
    check_op("a.log()", lambda a: a.log(), np.log, POSITIVE)


def test_sum():
    check_op("a.sum()", lambda a: a.sum(), np.sum, A)
    check_op("a.sum(axis=0)", lambda a: a.sum(axis=0), lambda a: a.sum(axis=0), A)
    check_op("a.sum(axis=1, keepdims=True)", lambda a: a.sum(axis=1, keepdims=True),
             lambda a: a.sum(axis=1, keepdims=True), A)


def test_a_tensor_used_twice_accumulates_its_gradient():
    check_op("a * a", lambda a: a * a, lambda a: a * a, A)
    check_op("(a * b + a).exp() * a", lambda a, b: (a * b + a).exp() * a,
             lambda a, b: np.exp(a * b + a) * a, A * 0.5, B * 0.5)


def test_scalars_and_given_operations():
    check_op("2 - a / b + 3 * a", lambda a, b: 2 - a / b + 3 * a, lambda a, b: 2 - a / b + 3 * a, A, POSITIVE)
