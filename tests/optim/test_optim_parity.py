"""Every optimizer and option against torch.optim: same float32 start, same gradients, K steps.

Two parameter groups with different lr and weight_decay; the gradients are random but
fixed (and shrinking, so running averages also go down), handed to both frameworks at
every step.  Differences of an ulp or two come from PyTorch's fused multiply-adds.
"""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import optim

torch = pytest.importorskip("torch")

STEPS = 10
SHAPES = [(4, 3), (5,), (2, 2, 3)]  # group 0: the first two, group 1: the last

CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"momentum": 0.8, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "betas": (0.9, 0.5)}),  # small beta2: v shrinks, so the max matters
    ("Adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("Adam", {"maximize": True, "amsgrad": True}),
    ("Adam", {"lr": 0.2, "betas": (0.5, 0.9)}),  # large lr and small beta1 (the lerp weight >= 0.5)
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True, "betas": (0.9, 0.5)}),
    ("AdamW", {"maximize": True, "weight_decay": 0.3}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "alpha": 0.9}),
    ("RMSprop", {"maximize": True, "weight_decay": 0.05}),
]


def _groups(params: list) -> list[dict]:
    """Group 0 overrides lr and weight_decay; group 1 takes the optimizer's defaults."""
    return [{"params": params[:2], "lr": 0.05, "weight_decay": 0.1}, {"params": params[2:]}]


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_matches_torch_over_steps(name: str, options: dict) -> None:
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[(rng.standard_normal(s) / (1 + k)).astype(np.float32) for s in SHAPES] for k in range(STEPS)]

    ours = [minicnn.Tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    options = {"lr": 0.01, **options}
    opt = getattr(optim, name)(_groups(ours), **options)
    ref = getattr(torch.optim, name)(_groups(theirs), **options)

    for step_grads in grads:
        for p, q, g in zip(ours, theirs, step_grads):
            p.grad = minicnn.Tensor(g.copy())
            q.grad = torch.from_numpy(g.copy())
        opt.step()
        ref.step()

    for p, q in zip(ours, theirs):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
        for key, value in opt.state[p].items():  # state arrays stay in the parameter's dtype
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, key
    assert sorted(opt.state[ours[0]]) == sorted(ref.state[theirs[0]])  # same state names as torch


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_defaults_match_torch(name: str) -> None:
    ours = getattr(optim, name)([minicnn.Tensor([1.0], requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.ones(1, requires_grad=True)])
    for key, value in ours.defaults.items():
        assert theirs.defaults[key] == value, key
