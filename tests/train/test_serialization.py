"""minicnn.save / minicnn.load: nested state as .npz, no pickle, atomic."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn.serialization import load, save


def test_round_trip_of_a_nested_checkpoint(tmp_path):
    state = {
        "model": {"features.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bn.num_batches_tracked": np.int64(3)},
        "epoch": 7,
        "lr": [0.1, 0.01],
        "betas": (0.9, 0.999),
        "name": "demo",
        "state": {0: {"momentum_buffer": np.ones(3, np.float32)}},
        "none": None,
        "tensor": minicnn.Tensor([1.0, 2.0]),
    }
    save(state, tmp_path / "s.npz")
    back = load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back["model"]["features.0.weight"], state["model"]["features.0.weight"])
    assert back["model"]["features.0.weight"].dtype == np.float32
    assert back["model"]["bn.num_batches_tracked"] == 3
    assert back["epoch"] == 7 and back["lr"] == [0.1, 0.01] and back["betas"] == (0.9, 0.999)
    assert back["name"] == "demo" and back["none"] is None
    np.testing.assert_array_equal(back["state"][0]["momentum_buffer"], np.ones(3, np.float32))
    np.testing.assert_array_equal(back["tensor"], [1.0, 2.0])


def test_objects_that_need_pickle_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        save({"x": {1, 2}}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="object array"):
        save({"x": np.array([object()])}, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1, "w": np.ones(3, np.float32)}, path)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)   # the disk fills up mid-write
    with pytest.raises(OSError):
        save({"epoch": 2, "w": np.zeros(3, np.float32)}, path)
    monkeypatch.undo()
    back = load(path)
    assert back["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name != "ckpt.npz"], "no temporary files left behind"
