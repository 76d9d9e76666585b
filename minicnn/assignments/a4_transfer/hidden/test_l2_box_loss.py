"""Task l2_box_loss: value and gradient."""
import numpy as np

from minicnn.assignments.checks import assert_close, check_gradient, unpack

from hidden_common import reference, student


def test_value_and_gradient():
    rng = np.random.default_rng(4)
    pred, target = rng.uniform(0, 1, (5, 4)), rng.uniform(0, 1, (5, 4))
    loss, dpred = unpack(student.l2_box_loss(pred, target), ("loss", "dpred"), "l2_box_loss")
    assert_close("loss", np.asarray(loss, dtype=float), float(np.sum((pred - target) ** 2) / 5))
    check_gradient("dpred", lambda p: reference.l2_box_loss(p, target)[0], pred, dpred)


def test_a_perfect_prediction_has_zero_loss():
    boxes = np.array([[0.1, 0.2, 0.5, 0.6]])
    loss, dpred = unpack(student.l2_box_loss(boxes, boxes.copy()), ("loss", "dpred"), "l2_box_loss")
    assert_close("loss", np.asarray(loss, dtype=float), 0.0, atol=1e-12)
    assert_close("dpred", dpred, np.zeros((1, 4)), atol=1e-12)
