"""Task box_head: a linear box regressor on frozen features reaches the target mean IoU.

Graded with the reference l2_box_loss, and IoU measured with the reference box_iou.
"""
import time

import numpy as np

from features import localization_data

from hidden_common import reference, student

student.l2_box_loss = reference.l2_box_loss
TARGET = 0.70


def test_mean_iou_on_held_out_canvases():
    f_train, b_train, f_test, b_test = localization_data(1500, 500)
    start = time.perf_counter()
    W, b = student.train_box_head(f_train, b_train)
    seconds = time.perf_counter() - start
    pred = reference.predict_boxes(np.asarray(W), np.asarray(b), f_test)
    mean_iou = float(np.mean(reference.box_iou(pred, b_test)))
    assert mean_iou >= TARGET, (f"mean IoU {mean_iou:.3f} on held-out canvases after {seconds:.1f} s of training "
                                f"is below the {TARGET} target (more steps, or another learning rate?)")
