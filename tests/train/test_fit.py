"""The training loop: learning, history, bad input, checkpoints and bit-for-bit resume."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.data import DataLoader, TensorDataset
from minicnn.data.digits import load_digits
from minicnn.train import EarlyStopping, TrainingDiverged, evaluate, fit, load_checkpoint, save_checkpoint


def small_cnn(classes: int = 10) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 14 * 14, classes),
    )


def digit_loaders(n_train: int = 256, n_test: int = 128, seed: int = 0):
    x, y = load_digits("train")
    xt, yt = load_digits("test")
    train = DataLoader(TensorDataset(x[:n_train], y[:n_train]), batch_size=32, shuffle=True, seed=seed)
    test = DataLoader(TensorDataset(xt[:n_test], yt[:n_test]), batch_size=64)
    return train, test


def test_fit_learns_and_records_history():
    minicnn.manual_seed(0)
    train, test = digit_loaders()
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = fit(model, nn.CrossEntropyLoss(), opt, train, test, epochs=3, progress=False)
    assert history.epochs == 3
    assert len(history.val_acc) == 3 and len(history.lr) == 3
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.6          # 256 digits, 3 epochs: far above chance (0.1)
    assert all(v > 0 for v in history.images_per_second)


def test_evaluate_confusion_matrix_counts_every_example():
    minicnn.manual_seed(0)
    _, test = digit_loaders()
    model = small_cnn()
    result = evaluate(model, test, nn.CrossEntropyLoss(), num_classes=10)
    assert result.confusion.sum() == 128
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 128)
    assert np.isfinite(result.loss)


def test_nan_loss_stops_with_step_and_learning_rate():
    minicnn.manual_seed(0)
    train, _ = digit_loaders(64)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=1e12)
    with pytest.raises(TrainingDiverged) as err:
        fit(model, nn.CrossEntropyLoss(), opt, train, epochs=3, progress=False)
    msg = str(err.value)
    assert "step" in msg and "1e+12" in msg and "10x smaller" in msg


def test_label_outside_classes_is_a_clear_error():
    x, _ = load_digits("train")
    loader = DataLoader(TensorDataset(x[:8], np.array([0, 1, 2, 3, 4, 5, 6, 12])), batch_size=8)
    model = small_cnn()
    with pytest.raises(ValueError, match="label 12 is outside the model's 10 classes"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader, progress=False)


def test_early_stopping_stops_after_patience():
    h = minicnn.train.History(val_loss=[1.0, 0.9, 0.95, 0.97])
    stop = EarlyStopping(patience=2)
    decisions = []
    for k in range(1, 5):
        decisions.append(stop.should_stop(minicnn.train.History(val_loss=h.val_loss[:k])))
    assert decisions == [False, False, False, True]


def _params(model) -> list[np.ndarray]:
    return [p.numpy().copy() for p in model.parameters()]


def test_resume_from_checkpoint_is_bit_for_bit(tmp_path):
    def run(epochs, checkpoint=None, resume=False, model=None, opt=None):
        train, test = digit_loaders(128)
        return fit(model, nn.CrossEntropyLoss(), opt, train, test, epochs=epochs,
                   scheduler=sched(opt), checkpoint=checkpoint, resume=resume, progress=False)

    def sched(opt):
        return optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def fresh():
        minicnn.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3),
                          nn.Flatten(), nn.Linear(4 * 14 * 14, 10))
        return m, optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    m1, o1 = fresh()
    h1 = run(4, model=m1, opt=o1)

    ckpt = tmp_path / "ckpt.npz"
    m2, o2 = fresh()
    run(2, checkpoint=ckpt, model=m2, opt=o2)          # "interrupted" after 2 epochs
    m3, o3 = fresh()
    minicnn.manual_seed(123)                            # a different RNG state: resume must restore it
    h3 = run(4, checkpoint=ckpt, resume=True, model=m3, opt=o3)

    for a, b in zip(_params(m1), _params(m3)):
        np.testing.assert_array_equal(a, b)
    assert h3.train_loss == h1.train_loss
    assert h3.epochs == 4


def test_checkpoint_from_another_architecture_is_refused(tmp_path):
    model = small_cnn()
    save_checkpoint(tmp_path / "c.npz", model, epoch=0)
    other = small_cnn(classes=5)
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(tmp_path / "c.npz", other)


def test_empty_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64)), batch_size=4)
