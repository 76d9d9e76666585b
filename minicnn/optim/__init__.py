"""Optimizers, learning-rate schedules and gradient clipping.

    optimizer = minicnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scheduler = minicnn.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            minicnn.optim.clip_grad_norm_(model.parameters(), max_norm=5.0)   # optional
            optimizer.step()
        scheduler.step()

The classes, arguments, defaults and update rules are PyTorch's (``torch.optim``), and
the tests check the numbers against it.
"""
from __future__ import annotations

from . import lr_scheduler
from .adam import Adam, AdamW
from ..nn.clip_grad import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler", "clip_grad_norm_", "clip_grad_value_"]
