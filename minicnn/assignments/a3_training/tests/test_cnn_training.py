"""Visible tests for assignment 3: run them with  python -m pytest tests -q

The hidden tests also check numerical gradients, large logits, weight decay, float32, and the
accuracy of your trained model on the test digits.
"""
import numpy as np

from minicnn import Tensor
from minicnn.assignments.checks import assert_close
from minicnn.nn import Parameter

import cnn_training


def test_cross_entropy_of_uniform_scores_is_log_k():
    loss, dlogits = cnn_training.softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    assert_close("loss", loss, np.log(4))
    assert_close("dlogits", dlogits, np.array([[-0.375, 0.125, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]]))


def test_sgd_momentum_two_steps():
    p = Parameter(Tensor(np.array([1.0])))
    opt = cnn_training.SGDMomentum([p], lr=0.1, momentum=0.5)
    p.grad = Tensor(np.array([1.0]))
    opt.step()                                        # v = 1,   p = 1 - 0.1
    assert_close("p after step 1", p.data, [0.9])
    opt.step()                                        # v = 1.5, p = 0.9 - 0.15
    assert_close("p after step 2", p.data, [0.75])


def test_training_improves_accuracy():
    import minicnn
    from minicnn.data.digits import load_digits

    x, y = load_digits("train")
    minicnn.manual_seed(0)
    model = cnn_training.build_model()
    cnn_training.train_model(model, x[:300], y[:300])
    assert cnn_training.accuracy(model, x[:300], y[:300]) > 0.7
