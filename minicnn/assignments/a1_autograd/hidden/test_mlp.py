"""Task mlp: MLP, softmax_cross_entropy and train_mlp, graded with the reference tiny_tensor."""
import time

import numpy as np

from minicnn.assignments.checks import (
    assert_close, assert_shape, case, import_fresh, load_reference, replaced_modules,
)
from minicnn.data.digits import load_digits

reference = load_reference(__file__, "tiny_tensor")
with replaced_modules(tiny_tensor=reference):
    mlp = import_fresh("mlp")

TRAIN, TARGET = 2000, 0.88


def _numpy_cross_entropy(scores, labels):
    z = scores - scores.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    loss = -log_p[np.arange(len(labels)), labels].mean()
    return loss, (p - np.eye(scores.shape[1])[labels]) / len(labels)


def test_scores_have_one_row_per_image():
    model = mlp.MLP(784, 16, 10, seed=0)
    shapes = sorted(p.shape for p in model.parameters())
    assert shapes == sorted([(784, 16), (16,), (16, 10), (10,)]), f"parameter shapes {shapes}"
    x = np.random.default_rng(5).uniform(0, 1, (5, 784))
    assert_shape("model(x) for x (5, 784)", getattr(model(reference.Tensor(x)), "data", None), (5, 10))


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, 6)
    for scale in (1.0, 1000.0):                       # 1000: exp() would overflow without the shift
        scores = rng.standard_normal((6, 4)) * scale
        expected_loss, expected_grad = _numpy_cross_entropy(scores, labels)
        s = reference.Tensor(scores)
        loss = mlp.softmax_cross_entropy(s, labels)
        loss.backward()
        with case(f"scores of size ~{scale:g}"):
            assert_close("loss", getattr(loss, "data", None), expected_loss)
            assert_close("dloss/dscores", s.grad, expected_grad)


def test_train_mlp_reaches_target_accuracy():
    x, y = load_digits("train")
    xt, yt = load_digits("test")
    start = time.perf_counter()
    model = mlp.train_mlp(x[:TRAIN].reshape(TRAIN, -1), y[:TRAIN])
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(np.asarray(model.predict(xt.reshape(len(xt), -1))) == yt))
    assert accuracy >= TARGET, (f"test accuracy {accuracy:.1%} after {seconds:.1f} s of training is below "
                                f"the {TARGET:.0%} target (train on all {TRAIN} images, more epochs, "
                                f"or try another learning rate)")
