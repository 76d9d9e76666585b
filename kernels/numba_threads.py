"""How the Numba CPU kernels' threads wait: set before numba's OpenMP runtime loads.

Numba runs ``prange`` loops on an OpenMP thread pool whose threads, by default, spin
(busy-wait) for a while after each loop.  NumPy's OpenBLAS runs the GEMMs between our
loops on its own thread pool, so the spinning threads take the cores those GEMMs need,
and the other way round.  Measured on a 2-core machine: the demo CNN's training step took
44 ms with 2 threads, 16 ms with 1 thread, and 14 ms with 2 threads that sleep instead
of spinning (OMP_WAIT_POLICY=PASSIVE).

OpenMP reads OMP_WAIT_POLICY once, when its runtime is loaded (at numba's first parallel
loop, unless another library such as PyTorch loaded it earlier), so the kernel modules
call ``prefer_sleeping_threads()`` before they import numba.  A value the user set is kept.
"""
from __future__ import annotations

import os


def prefer_sleeping_threads() -> None:
    """OMP_WAIT_POLICY=PASSIVE unless already set (see the module docstring for why)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
