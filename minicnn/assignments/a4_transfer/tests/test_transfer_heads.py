"""Visible tests for assignment 4: run them with  python -m pytest tests -q

The hidden tests also check gradients numerically, large scores, more box pairs, and the
accuracy / mean IoU of your trained heads on held-out data.
"""
import numpy as np

from minicnn.assignments.checks import assert_close

import transfer_heads


def test_softmax_regression_loss_of_zero_weights_is_log_k():
    F, y = np.ones((2, 3)), np.array([0, 1])
    loss, dW, db = transfer_heads.softmax_regression_loss(np.zeros((3, 4)), np.zeros(4), F, y)
    assert_close("loss", loss, np.log(4))
    assert_close("db", db, np.array([-0.25, -0.25, 0.25, 0.25]))
    assert dW.shape == (3, 4)


def test_box_iou_examples():
    a = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    b = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 2.0]])
    assert_close("iou", transfer_heads.box_iou(a, b), np.array([1.0, 0.5]))


def test_l2_box_loss_example():
    loss, dpred = transfer_heads.l2_box_loss(np.array([[1.0, 0.0, 0.0, 0.0]]), np.zeros((1, 4)))
    assert_close("loss", loss, 1.0)
    assert_close("dpred", dpred, np.array([[2.0, 0.0, 0.0, 0.0]]))


def test_heads_learn_on_a_small_set():
    from features import classification_data, localization_data

    f_train, y_train, _, _ = classification_data(300, 10)
    W, b = transfer_heads.train_softmax_regression(f_train, y_train, 10)
    assert np.mean(transfer_heads.predict_classes(W, b, f_train) == y_train) > 0.9
    g_train, boxes, _, _ = localization_data(300, 10)
    W, b = transfer_heads.train_box_head(g_train, boxes)
    assert np.mean(transfer_heads.box_iou(transfer_heads.predict_boxes(W, b, g_train), boxes)) > 0.6
