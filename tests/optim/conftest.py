"""Shared fixture for the optim tests: a pickle-free save/load round trip through ``np.savez``."""
from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest


def _npz_round_trip(tree: Any) -> Any:
    """Write ``tree`` with ``np.savez`` to memory and read it back with ``allow_pickle=False``.

    Arrays become npz members; everything else must be plain JSON data (numbers, booleans,
    strings, None, lists, dicts): anything else fails the test, which is the point.
    Dicts keep their int keys (the optimizer's ``state`` is keyed by parameter index).
    """
    arrays: dict[str, np.ndarray] = {}

    def split(node: Any, path: str) -> Any:
        if isinstance(node, np.ndarray):
            assert node.dtype != object, f"{path}: object array"
            name = f"a{len(arrays)}"
            arrays[name] = node
            return {"array": name}
        if isinstance(node, dict):
            return {"dict": [[key, split(value, f"{path}/{key}")] for key, value in node.items()]}
        if isinstance(node, list):
            return {"list": [split(value, f"{path}/{i}") for i, value in enumerate(node)]}
        assert node is None or type(node) in (bool, int, float, str), f"{path}: {type(node).__name__} is not plain data"
        return {"value": node}

    manifest = split(tree, "")
    buffer = io.BytesIO()
    np.savez(buffer, manifest=np.array(json.dumps(manifest)), **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        loaded = {name: npz[name] for name in npz.files}

    def join(node: dict[str, Any]) -> Any:
        (kind, body), = node.items()
        if kind == "array":
            return loaded[body]
        if kind == "dict":
            return {key: join(value) for key, value in body}
        if kind == "list":
            return [join(value) for value in body]
        return body

    return join(json.loads(str(loaded["manifest"])))


@pytest.fixture
def npz_round_trip():
    return _npz_round_trip
