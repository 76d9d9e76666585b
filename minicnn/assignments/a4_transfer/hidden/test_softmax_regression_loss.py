"""Task softmax_regression_loss: loss value, dW and db (gradient checks)."""
import numpy as np

from minicnn.assignments.checks import assert_close, case, check_gradient, unpack

from hidden_common import reference, student


def _inputs(seed, n=6, d=5, k=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((d, k)), rng.standard_normal(k), rng.standard_normal((n, d)), rng.integers(0, k, n)


def _call(W, b, F, y, reg):
    return unpack(student.softmax_regression_loss(W, b, F, y, reg), ("loss", "dW", "db"), "softmax_regression_loss")


def test_loss_value():
    for reg in (0.0, 0.1):
        W, b, F, y = _inputs(0)
        loss, _, _ = _call(W, b, F, y, reg)
        with case(f"reg={reg}"):
            assert_close("loss", np.asarray(loss, dtype=float), reference.softmax_regression_loss(W, b, F, y, reg)[0])


def test_gradients_match_numerical_gradients():
    for reg in (0.0, 0.5):
        W, b, F, y = _inputs(1)
        _, dW, db = _call(W, b, F, y, reg)
        with case(f"reg={reg}"):
            check_gradient("dW", lambda v: reference.softmax_regression_loss(v, b, F, y, reg)[0], W, dW)
            check_gradient("db", lambda v: reference.softmax_regression_loss(W, v, F, y, reg)[0], b, db)


def test_large_scores_do_not_overflow():
    W, b, F, y = _inputs(2)
    with np.errstate(all="ignore"):
        loss, dW, _ = _call(W * 500, b, F, y, 0.0)
    expected = reference.softmax_regression_loss(W * 500, b, F, y, 0.0)
    with case("scores of size ~1000 (subtract each row's max before exp)"):
        assert_close("loss", np.asarray(loss, dtype=float), expected[0])
        assert_close("dW", dW, expected[1])
