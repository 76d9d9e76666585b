"""Fixtures for the assignment tests: build packages, plant bugs, snapshot folders."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import pytest

from minicnn.assignments import build_assignment

ASSIGNMENTS = ["a1_autograd", "a2_conv", "a3_training", "a4_transfer"]


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Path]:
    """build(name, with_solutions=False, folder=None) -> the package folder, under tmp_path."""

    def _build(name: str, with_solutions: bool = False, folder: str | None = None) -> Path:
        out = tmp_path / (folder or f"{name}{'_ref' if with_solutions else ''}")
        return build_assignment(name, out, with_solutions=with_solutions)

    return _build


def plant(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path`` by ``new`` (fails if not exactly one)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder below ``folder``: (size, mtime in ns, sha256 of the content)."""
    state = {}
    for p in sorted(folder.rglob("*")):
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        st = p.stat()
        state[str(p.relative_to(folder))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns, digest)
    return state
