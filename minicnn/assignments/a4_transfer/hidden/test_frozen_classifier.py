"""Task frozen_classifier: softmax regression on frozen features reaches the target accuracy.

Graded with the reference softmax_regression_loss, so a mistake there is not counted twice.
"""
import time

import numpy as np

from features import classification_data

from hidden_common import reference, student

student.softmax_regression_loss = reference.softmax_regression_loss
TARGET = 0.90


def test_accuracy_on_test_digits():
    f_train, y_train, f_test, y_test = classification_data(1500, 1000)
    start = time.perf_counter()
    W, b = student.train_softmax_regression(f_train, y_train, 10)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(reference.predict_classes(np.asarray(W), np.asarray(b), f_test) == y_test))
    assert accuracy >= TARGET, (f"test accuracy {accuracy:.1%} after {seconds:.1f} s of training is below the "
                                f"{TARGET:.0%} target (more steps, or another learning rate?)")
