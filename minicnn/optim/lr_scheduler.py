"""Learning-rate schedules: change ``group["lr"]`` of an optimizer as training goes on.

A scheduler is stepped once per epoch (or per iteration), after ``optimizer.step()``::

    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        train_one_epoch(model, optimizer)
        scheduler.step()

``last_epoch`` counts the ``step()`` calls (0 right after construction).  Every parameter
group is scheduled on its own, from its own starting lr (``base_lrs``, saved in the group
as ``"initial_lr"``), so a fine-tuning setup with lr 1e-2 for the head and 1e-4 for the
body keeps the 100:1 ratio throughout.

Like PyTorch, ``step()`` updates the learning rates *recursively* from their current
values (``lr <- lr * gamma``), so a scheduler composes with other changes to the lr.  Each
class also has the closed form (``lr = base_lr * gamma ** epoch``) in ``_closed_form_lr``;
``SequentialLR`` uses it to start a scheduler afresh at a milestone.  The numbers match
``torch.optim.lr_scheduler`` exactly.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Iterable, Sequence

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR"]


class LRScheduler:
    """Base class: subclasses give ``get_lr()``, the next learning rate of every group.

    Constructing a scheduler sets the learning rates for epoch 0 (``step()`` is called once).

    Attributes:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` are changed.
        base_lrs: the starting lr of each parameter group.
        last_epoch: how many times ``step()`` was called since construction.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer; "
                            f"pass one, e.g. {type(self).__name__}(optimizer, ...)")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # the first scheduler records the starting lr
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self._last_lr: list[float] = []
        self.step()  # epoch 0

    def get_lr(self) -> list[float]:
        """The learning rate of each group at ``self.last_epoch``, from the current ones."""
        raise NotImplementedError(f"{type(self).__name__}.get_lr")

    def _closed_form_lr(self) -> list[float]:
        """The learning rate of each group at ``self.last_epoch``, from ``base_lrs``."""
        return self.get_lr()

    def step(self) -> None:
        """Advance one epoch and set the new learning rates."""
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _restart(self) -> None:
        """Jump to epoch 0 of this schedule (used by ``SequentialLR`` at a milestone)."""
        self.last_epoch = 0
        self._set_lrs(self._closed_form_lr())

    def _set_lrs(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as numbers and lists (saveable without pickle)."""
        return {key: _copy(value) for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; the optimizer's lrs come from its own state dict."""
        self.__dict__.update({key: _copy(value) for key, value in state_dict.items()})


def _copy(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    if hasattr(value, "tolist"):  # a NumPy number or array from a loaded file
        return value.tolist()
    return value


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    Closed form: ``lr = base_lr * gamma ** (epoch // step_size)``.  With base_lr 0.1,
    step_size 30, gamma 0.1: lr 0.1 for epochs 0-29, 0.01 for 30-59, 0.001 for 60-89, ...

    Args:
        optimizer: the optimizer.
        step_size: period of the decay, in epochs.
        gamma: multiplicative factor.  Default: 0.1.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive number of epochs, got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch.

    Closed form: ``lr = base_lr * gamma ** (number of milestones <= epoch)``.  With
    milestones [30, 80] and gamma 0.1: 0.1 until epoch 29, 0.01 until 79, then 0.001.
    A milestone listed twice multiplies by gamma twice.

    Args:
        optimizer: the optimizer.
        milestones: epoch indices (they are sorted).
        gamma: multiplicative factor.  Default: 0.1.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return self._current_lrs()
        return [lr * self.gamma**hits for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** bisect_right(self.milestones, self.last_epoch) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: ``lr = base_lr * gamma ** epoch``.

    Args:
        optimizer: the optimizer.
        gamma: multiplicative factor per epoch, e.g. 0.95.
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Lower the lr from base_lr to ``eta_min`` along half a cosine over ``T_max`` epochs.

    Closed form (SGDR without restarts), with T = epoch::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T / T_max)) / 2

    so lr = base_lr at T = 0, the mean of the two at T_max / 2, and eta_min at T = T_max
    (after which it rises again: the cosine is periodic).  ``step()`` applies the ratio of
    consecutive closed-form values to the current lr (PyTorch's recursive form)::

        lr_T = eta_min + (lr_{T-1} - eta_min) * (1 + cos(pi*T/T_max)) / (1 + cos(pi*(T-1)/T_max))

    Args:
        optimizer: the optimizer.
        T_max: number of epochs of the half cosine.
        eta_min: the smallest lr.  Default: 0.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive number of epochs, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        T, T_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if T == 0:
            return self._current_lrs()
        if (T - 1 - T_max) % (2 * T_max) == 0:
            # one epoch past the minimum the ratio below would be 0/0 (cos = -1): take the
            # closed-form increase from the minimum instead
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
                    for lr, base_lr in zip(self._current_lrs(), self.base_lrs)]
        return [(1 + math.cos(math.pi * T / T_max)) / (1 + math.cos(math.pi * (T - 1) / T_max)) * (lr - eta_min)
                + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Change the lr linearly from ``start_factor * base_lr`` to ``end_factor * base_lr``.

    The usual *linear warmup*: with the defaults the lr climbs from base_lr / 3 to base_lr
    over the first ``total_iters`` epochs, then stays there.  Closed form::

        lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)

    Args:
        optimizer: the optimizer.
        start_factor: multiplies the lr at epoch 0; in (0, 1].  Default: 1/3.
        end_factor: multiplies the lr from epoch ``total_iters`` on; in [0, 1].  Default: 1.
        total_iters: length of the ramp, in epochs.  Default: 5.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1, "
                             f"got start_factor={start_factor}")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"Ending multiplicative factor expected to be between 0 and 1, "
                             f"got end_factor={end_factor}")
        if total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive number of epochs, got {total_iters}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self.last_epoch > self.total_iters:
            return self._current_lrs()
        # the ratio of the closed-form factors at epoch e and e - 1
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        change = self.end_factor - self.start_factor
        return [base_lr * (self.start_factor + change * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run schedulers one after another, switching at the milestone epochs.

    The common *warmup then cosine*: 5 epochs of linear warmup, then cosine decay::

        warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(optimizer, T_max=epochs - 5)
        scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[5])

    At milestone ``milestones[i]`` scheduler ``i + 1`` starts from its own epoch 0
    (for the cosine above: at base_lr).

    Args:
        optimizer: the optimizer all the schedulers belong to.
        schedulers: the schedulers, in order.
        milestones: the epochs at which to switch; one fewer than ``schedulers``.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        for i, scheduler in enumerate(schedulers):
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR expects all schedulers to belong to the same optimizer, but "
                                 f"scheduler {type(scheduler).__name__} at index {i} has another one")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
                f"milestone points, but got number of schedulers {len(schedulers)} and the number of milestones "
                f"to be equal to {len(milestones)}"
            )
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        # Each scheduler stepped to its epoch 0 when it was built, changing the lrs: undo that,
        # then start only the first one.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            scheduler.last_epoch -= 1
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first.step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)  # the scheduler in charge of this epoch
        scheduler = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = {key: _copy(value) for key, value in vars(self).items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved_schedulers = state.pop("_schedulers")
        if len(saved_schedulers) != len(self._schedulers):
            raise ValueError(f"SequentialLR: the state dict has {len(saved_schedulers)} schedulers, "
                             f"this one has {len(self._schedulers)}")
        super().load_state_dict(state)
        for scheduler, saved in zip(self._schedulers, saved_schedulers):
            scheduler.load_state_dict(saved)
