"""Helpers for the assignment tests (a module name of its own: every tests/ folder has a conftest)."""
from __future__ import annotations

import hashlib
from pathlib import Path

ASSIGNMENTS = ["a1_autograd", "a2_conv", "a3_training", "a4_transfer"]


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
