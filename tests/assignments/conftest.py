"""Fixtures for the assignment tests (helpers are in assignment_helpers.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from minicnn.assignments import build_assignment


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Path]:
    """build(name, with_solutions=False, folder=None) -> the package folder, under tmp_path."""

    def _build(name: str, with_solutions: bool = False, folder: str | None = None) -> Path:
        out = tmp_path / (folder or f"{name}{'_ref' if with_solutions else ''}")
        return build_assignment(name, out, with_solutions=with_solutions)

    return _build
