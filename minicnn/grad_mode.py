"""Whether operations record a graph for backward: ``no_grad`` and friends."""
from __future__ import annotations

import functools
import threading
from typing import Callable, TypeVar

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled"]

_state = threading.local()
F = TypeVar("F", bound=Callable)


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward (the default)."""
    return getattr(_state, "enabled", True)


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self.previous = is_grad_enabled()
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.previous

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):   # a fresh context per call (re-entrant)
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """``with minicnn.no_grad():`` runs without recording a graph (inference, updates)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Re-enables recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)
