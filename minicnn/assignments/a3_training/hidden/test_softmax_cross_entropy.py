"""Task softmax_cross_entropy: the loss value and dL/dlogits = (p - onehot) / N."""
import numpy as np

from minicnn.assignments.checks import assert_close, case, check_gradient, unpack

from hidden_common import student


def _expected_loss(z, labels):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    log_sum_exp = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(log_sum_exp - z[np.arange(len(labels)), labels]))


def _call(logits, labels):
    return unpack(student.softmax_cross_entropy(logits, labels), ("loss", "dlogits"), "softmax_cross_entropy")


def test_loss_value():
    rng = np.random.default_rng(0)
    for n, k in ((5, 3), (8, 10), (1, 4)):
        logits, labels = rng.standard_normal((n, k)), rng.integers(0, k, n)
        loss, _ = _call(logits, labels)
        with case(f"logits ({n}, {k})"):
            assert_close("loss", np.asarray(loss, dtype=float), _expected_loss(logits, labels))


def test_gradient_matches_numerical_gradient():
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    _, dlogits = _call(logits, labels)
    check_gradient("dlogits", lambda z: _expected_loss(z, labels), logits, dlogits)


def test_large_logits_do_not_overflow():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0]])
    labels = np.array([0, 2])
    with np.errstate(all="ignore"):
        loss, dlogits = _call(logits, labels)
    with case("logits of +-1000 (subtract each row's max before exp)"):
        assert_close("loss", np.asarray(loss, dtype=float), _expected_loss(logits, labels))
        p = np.array([[1.0, 0.0, 0.0], [0.0, 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))]])
        assert_close("dlogits", dlogits, (p - np.eye(3)[labels]) / 2, atol=1e-12)


def test_keeps_float32():
    logits = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    _, dlogits = _call(logits, np.array([0, 1, 2, 3]))
    assert np.asarray(dlogits).dtype == np.float32, f"dlogits has dtype {np.asarray(dlogits).dtype} for float32 logits"
