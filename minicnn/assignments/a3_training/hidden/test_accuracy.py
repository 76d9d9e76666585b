"""Task accuracy: build_model + train_model reach the target on the test digits.

Graded with the reference softmax_cross_entropy and SGDMomentum, so a mistake in tasks 1-2 is
not counted twice.
"""
import time

import numpy as np

import minicnn
from minicnn import Tensor
from minicnn.assignments.checks import assert_shape
from minicnn.data.digits import load_digits

from hidden_common import reference, student

student.softmax_cross_entropy = reference.softmax_cross_entropy
student.SGDMomentum = reference.SGDMomentum

TRAIN, TARGET = 1500, 0.90


def test_model_maps_digits_to_ten_logits():
    minicnn.manual_seed(0)
    model = student.build_model()
    out = model(Tensor(np.zeros((2, 1, 28, 28), dtype=np.float32)))
    assert_shape("build_model()(x) for x (2, 1, 28, 28)", getattr(out, "data", None), (2, 10))


def test_trained_model_reaches_target_accuracy():
    x, y = load_digits("train")
    xt, yt = load_digits("test")
    minicnn.manual_seed(0)
    model = student.build_model()
    start = time.perf_counter()
    student.train_model(model, x[:TRAIN], y[:TRAIN])
    seconds = time.perf_counter() - start
    accuracy = reference.accuracy(model, xt, yt)
    assert accuracy >= TARGET, (f"test accuracy {accuracy:.1%} after {seconds:.1f} s of training is below "
                                f"the {TARGET:.0%} target (more epochs, another learning rate, or a "
                                f"larger model?)")
