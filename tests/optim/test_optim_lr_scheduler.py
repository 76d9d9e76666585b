"""Learning-rate schedulers: the same lr sequences as torch.optim.lr_scheduler, per group."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minicnn
from minicnn import optim
from minicnn.optim import lr_scheduler

torch = pytest.importorskip("torch")

EPOCHS = 30
BASE_LRS = [0.1, 0.004]  # two parameter groups, scheduled independently


def _optimizers():
    ours = optim.SGD([{"params": [minicnn.Tensor([1.0], requires_grad=True)], "lr": BASE_LRS[0]},
                      {"params": [minicnn.Tensor([1.0], requires_grad=True)], "lr": BASE_LRS[1]}], momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.ones(1, requires_grad=True)], "lr": BASE_LRS[0]},
                              {"params": [torch.ones(1, requires_grad=True)], "lr": BASE_LRS[1]}], momentum=0.9)
    return ours, theirs


# Each case builds a scheduler from a module (ours or torch's) and an optimizer.
CASES = {
    "step": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[12, 5, 20, 20], gamma=0.3),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=EPOCHS),
    "cosine-past-T_max": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
    "linear-warmup": lambda m, o: m.LinearLR(o),
    "linear-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=12),
    "warmup-then-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=EPOCHS - 5)], milestones=[5]),
    "three-phases": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=4), m.StepLR(o, step_size=3, gamma=0.5),
            m.ExponentialLR(o, gamma=0.8)], milestones=[4, 15]),
}


def _lr_sequence(scheduler, optimizer, epochs: int) -> list[list[float]]:
    lrs = [scheduler.get_last_lr()]
    for _ in range(epochs):
        optimizer.step()  # no gradients: nothing moves, but torch wants step() before scheduler.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in optimizer.param_groups]
    return lrs


@pytest.mark.parametrize("name", list(CASES))
def test_lr_sequence_matches_torch(name: str) -> None:
    ours, theirs = _optimizers()
    expected = _lr_sequence(CASES[name](torch.optim.lr_scheduler, theirs), theirs, EPOCHS)
    got = _lr_sequence(CASES[name](lr_scheduler, ours), ours, EPOCHS)
    assert got == expected  # exactly: the same formulas in the same order, in double precision
    if name != "cosine-past-T_max":  # (eta_min is the same for both groups, which breaks the ratio)
        # the groups are scaled independently from their own base lr: the 25:1 ratio is kept
        assert all(a == pytest.approx(b * BASE_LRS[0] / BASE_LRS[1], rel=1e-9, abs=1e-18) for a, b in got)


def test_values_by_hand() -> None:
    ours, _ = _optimizers()
    step = _lr_sequence(lr_scheduler.StepLR(ours, step_size=2, gamma=0.1), ours, 5)
    assert [lrs[0] for lrs in step] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    ours, _ = _optimizers()
    cosine = _lr_sequence(lr_scheduler.CosineAnnealingLR(ours, T_max=4), ours, 4)
    closed = [0.1 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]  # 0.1, 0.085, 0.05, 0.015, 0
    assert [lrs[0] for lrs in cosine] == pytest.approx(closed, abs=1e-12)
    ours, _ = _optimizers()
    warmup = _lr_sequence(lr_scheduler.LinearLR(ours, start_factor=0.25, total_iters=3), ours, 5)
    assert [lrs[0] for lrs in warmup] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_scheduler_changes_the_update() -> None:
    p = minicnn.Tensor(np.zeros(1, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    scheduler = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = minicnn.Tensor(np.ones(1, np.float32))
        opt.step()
        scheduler.step()
    assert p.item() == -(1.0 + 0.5 + 0.25)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip(name: str, npz_round_trip) -> None:
    ours, _ = _optimizers()
    uninterrupted = _lr_sequence(CASES[name](lr_scheduler, ours), ours, 20)

    first, _ = _optimizers()
    scheduler = CASES[name](lr_scheduler, first)
    _lr_sequence(scheduler, first, 10)
    saved = npz_round_trip({"optimizer": first.state_dict(), "scheduler": scheduler.state_dict()})

    resumed, _ = _optimizers()
    scheduler = CASES[name](lr_scheduler, resumed)  # construct first, then load (as in PyTorch)
    resumed.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    assert scheduler.get_last_lr() == uninterrupted[10]
    assert _lr_sequence(scheduler, resumed, 10) == uninterrupted[10:]


def test_bad_arguments() -> None:
    ours, _ = _optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR("sgd", step_size=3)
    with pytest.raises(ValueError, match="step_size must be a positive"):
        lr_scheduler.StepLR(ours, step_size=0)
    with pytest.raises(ValueError, match="T_max must be a positive"):
        lr_scheduler.CosineAnnealingLR(ours, T_max=0)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        lr_scheduler.LinearLR(ours, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        lr_scheduler.LinearLR(ours, end_factor=1.5)
    a = lr_scheduler.StepLR(ours, step_size=3)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        lr_scheduler.SequentialLR(ours, [a], milestones=[3])
    other, _ = _optimizers()
    with pytest.raises(ValueError, match="same optimizer"):
        lr_scheduler.SequentialLR(ours, [a, lr_scheduler.StepLR(other, step_size=3)], milestones=[3])
