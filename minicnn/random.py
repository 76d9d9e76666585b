"""Reproducible randomness: one seeded NumPy ``Generator`` unless you pass your own.

Every function in minicnn that draws random numbers (initialisers, dropout, shuffling,
augmentation) takes an optional ``rng=`` (a ``numpy.random.Generator``); without it, it
uses the default generator, which ``manual_seed`` resets::

    minicnn.manual_seed(0)          # same seed, same machine, same kernels -> same run
    w = minicnn.randn(3, 3)
    w = minicnn.randn(3, 3, rng=np.random.default_rng(1))   # explicit, independent stream
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "default_generator", "get_rng"]

_default = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to ``seed`` and return it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    return _default


def get_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """``rng`` itself, a new generator seeded with it (an int), or the default generator."""
    if rng is None:
        return _default
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")
