"""minicnn .npz: exact round trip, manifest checksums, no pickle, atomic writes."""
from __future__ import annotations

import json
import os
import time
import zipfile

import numpy as np
import pytest

from minicnn.io import WeightFileError, load_npz, read_npz, save_npz
from minicnn.io.npz import array_sha256


def sample_arrays(rng):
    return {
        "conv1.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "conv1.bias": rng.standard_normal(4).astype(np.float16),
        "bn/num_batches_tracked": np.array(12, dtype=np.int64),  # 0-d, '/' in the name
        "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
        "mask": np.array([[True, False]]),
        "empty": np.zeros((0, 2), np.uint8),
    }


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_is_exact_and_manifest_is_kept(tmp_path, rng, compress):
    arrays = sample_arrays(rng)
    path = tmp_path / "weights.npz"
    manifest = {"format": "user-format", "source": "torchvision vgg16", "layout": "OIHW",
                "preprocessing": {"mean": [0.485, 0.456, 0.406]}}
    written = save_npz(path, arrays, manifest, compress=compress)
    got, stored = load_npz(path)
    assert list(got) == list(arrays)
    for key, value in arrays.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    assert stored == written
    assert stored["source"] == "torchvision vgg16" and stored["npz_format"] == "minicnn-npz"
    assert stored["format"] == "user-format"  # the caller's keys are kept
    assert stored["arrays"]["conv1.weight"] == {
        "dtype": "<f4", "shape": [4, 3, 3, 3], "sha256": array_sha256(arrays["conv1.weight"])}
    assert read_npz(path).meta["manifest"]["layout"] == "OIHW"
    # A plain NumPy reader sees the same arrays (allow_pickle=False).
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["conv1.weight"], arrays["conv1.weight"])


def test_sha256_catches_a_swapped_array(tmp_path, rng):
    path = tmp_path / "w.npz"
    save_npz(path, {"a": np.arange(4, dtype=np.float32)})
    tampered = tmp_path / "tampered.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        dst.writestr("__manifest__.npy", src.read("__manifest__.npy"))
        with dst.open("a.npy", "w") as member:  # same dtype and shape, one value changed
            np.lib.format.write_array(member, np.array([0, 1, 2, 4], np.float32))
    with pytest.raises(WeightFileError, match="'a' fails its SHA-256 check"):
        load_npz(tampered)


def test_plain_npz_without_manifest(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, x=np.ones(3))
    arrays, manifest = load_npz(path)
    assert manifest is None and np.array_equal(arrays["x"], np.ones(3))
    with pytest.raises(WeightFileError, match="no '__manifest__' member"):
        load_npz(path, require_manifest=True)


def test_object_arrays_are_refused_on_save_and_load(tmp_path):
    with pytest.raises(ValueError, match="object arrays are refused"):
        save_npz(tmp_path / "x.npz", {"a": np.array([{"evil": 1}], dtype=object)})
    assert not (tmp_path / "x.npz").exists()
    path = tmp_path / "obj.npz"
    np.savez(path, a=np.array([1, "two"], dtype=object))  # pickled inside the .npy
    with pytest.raises(WeightFileError, match="dtype object"):
        load_npz(path)


def test_npy_header_claiming_a_huge_array_is_refused_quickly(tmp_path):
    path = tmp_path / "huge.npz"
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(path, "w") as zf, zf.open("w.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\0" * 16)
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match="4000000000000 bytes of data but the member holds"):
        load_npz(path)
    assert time.perf_counter() - start < 5.0


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    save_npz(path, {"a": np.zeros(3, np.float32)})
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", explode)
    with pytest.raises(OSError, match="disk full"):
        save_npz(path, {"a": np.ones(3, np.float32)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.npz"]  # no temp file left behind


def test_bad_manifest_and_bad_names(tmp_path):
    with pytest.raises(ValueError, match="bad array name"):
        save_npz(tmp_path / "x.npz", {"__manifest__": np.zeros(1)})
    with pytest.raises(TypeError):
        save_npz(tmp_path / "x.npz", {"a": np.zeros(1)}, {"when": object()})
    path = tmp_path / "badjson.npz"
    np.savez(path, __manifest__=np.frombuffer(b"{not json", np.uint8), a=np.zeros(1))
    with pytest.raises(WeightFileError, match="not UTF-8 JSON"):
        load_npz(path)
    text = json.dumps({"npz_format": "minicnn-npz", "npz_version": 1, "arrays": {}}).encode()
    np.savez(path, __manifest__=np.frombuffer(text, np.uint8), a=np.zeros(1))
    with pytest.raises(WeightFileError, match="not listed \\['a'\\]"):
        load_npz(path)


def test_truncated_and_empty_files(tmp_path, rng):
    path = tmp_path / "full.npz"
    save_npz(path, sample_arrays(rng))
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in (0, 4, 30, len(data) // 2, len(data) - 10, len(data) - 1):
        cut.write_bytes(data[:n])
        with pytest.raises(WeightFileError, match="cut.npz"):
            load_npz(cut)
