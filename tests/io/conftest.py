"""Fixtures for the weight-file reader tests: Keras HDF5 writers and hostile pickles.

Every fixture file is written at test time into ``tmp_path`` by the real writer of
its format (torch.save, h5py exactly as Keras lays it out, safetensors, onnx, ours).
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


class _Reduce:
    """Pickles as ``fn(*args)``: the classic code-execution payload."""

    def __init__(self, fn: Callable, args: tuple) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _evil_pickles(marker: Path) -> dict[str, bytes]:
    """Pickles that would create ``marker`` if they were ever executed."""
    m = str(marker)
    return {
        "os.system": pickle.dumps(_Reduce(os.system, (f"touch {m}",)), protocol=2),
        "os.system-GLOBAL": b"cos\nsystem\n(S'touch " + m.encode() + b"'\ntR.",
        "builtins.eval": pickle.dumps(
            _Reduce(eval, (f"open({m!r}, 'w').close()",)), protocol=4),
        # Hand-written protocol-0 opcodes: GLOBAL subprocess.Popen, MARK, MARK,
        # 'touch', path, LIST, TUPLE, REDUCE, STOP  ->  Popen(['touch', path])
        "subprocess.Popen": b"csubprocess\nPopen\n((S'touch'\nS'" + m.encode() + b"'\nltR.",
    }


@pytest.fixture
def evil_pickles() -> Callable[[Path], dict[str, bytes]]:
    return _evil_pickles


@pytest.fixture
def reduce_payload() -> type:
    return _Reduce


# ---------------------------------------------------------------------------- Keras
def _write_keras2(path: Path, layers: list[tuple[str, list[tuple[str, np.ndarray]]]],
                  *, model_weights: bool = False, chunk_layer_names: bool = False,
                  model_config: str | None = None) -> None:
    """Write weights the way Keras 2 ``save_weights`` / ``model.save`` (h5) does.

    ``layers`` is ``[(layer_name, [(weight_name, array), ...]), ...]`` in model order,
    with weight names like ``"block1_conv1/kernel:0"``.
    """
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        if model_config is not None:
            f.attrs["model_config"] = model_config.encode()
        base = f.create_group("model_weights") if model_weights else f
        names = [layer.encode("utf8") for layer, _ in layers]
        if chunk_layer_names:  # Keras splits attributes over 64 KB into name0, name1, ...
            base.attrs["layer_names0"] = names[:2]
            base.attrs["layer_names1"] = names[2:]
        else:
            base.attrs["layer_names"] = names
        for layer, weights in layers:
            group = base.create_group(layer)
            group.attrs["weight_names"] = [w.encode("utf8") for w, _ in weights]
            for weight_name, value in weights:
                group.create_dataset(weight_name, data=value)  # '/' makes subgroups


def _write_keras3(path: Path, layers: list[tuple[str, list[np.ndarray]]]) -> None:
    """Write weights the way Keras 3 ``save_weights("x.weights.h5")`` does.

    ``layers`` is ``[(path_under_root, [var0, var1, ...]), ...]`` written in this order,
    e.g. ``("layers/dense", [kernel, bias])``.
    """
    import h5py

    with h5py.File(path, "w") as f:
        f.create_group("vars")  # the model's own (empty) variable group
        for group_path, values in layers:
            group = f.create_group(f"{group_path}/vars")
            for i, value in enumerate(values):
                group[str(i)] = value


@pytest.fixture
def write_keras2() -> Callable:
    return _write_keras2


@pytest.fixture
def write_keras3() -> Callable:
    return _write_keras3


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
