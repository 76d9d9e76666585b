"""Experiments that reproduce the lectures' results on real data in a few CPU minutes.

    transfer_table.py   ``minicnn transfer``: the 2x2 transfer-learning table (digits 0-4 -> 5-9)
                        and catastrophic forgetting
    localize.py         ``minicnn localize``: localization as regression on digit canvases,
                        and the "centre and radius" toy
    common.py           the small VGG-style network, array-based training helpers, caching, plots

Each experiment is a function returning its numbers as a dict (and writing a table, a JSON
file and plots); the command-line handlers only call them.
"""
from __future__ import annotations

__all__: list[str] = []
