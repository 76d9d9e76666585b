"""libhdf5 loops forever on a damaged string heap: minicnn refuses such a file before libhdf5
reads it, and ``timeout=`` reads any file in a child process that is killed when time is up."""
from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minicnn.io import WeightFileError, load_weights, read_keras_archive, read_keras_h5, read_weights
from minicnn.io.hdf5_check import check_hdf5_file

h5py = pytest.importorskip("h5py")


def write_keras2(path: Path, n_layers: int = 2) -> None:
    """Keras 2 save_weights layout; h5py stores the bytes attributes in a global heap."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        names = [f"dense_{i}" for i in range(n_layers)]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for n in names:
            group = f.create_group(n)
            group.attrs["weight_names"] = [f"{n}/kernel:0".encode(), f"{n}/bias:0".encode()]
            group.create_dataset(f"{n}/kernel:0", data=rng.standard_normal((3, 4)).astype(np.float32))
            group.create_dataset(f"{n}/bias:0", data=np.zeros(4, np.float32))


def free_space_size_offset(data: bytes) -> int:
    """Byte offset of the size field of the free-space object (index 0) of the first heap."""
    at = data.find(b"GCOL\x01")
    size = int.from_bytes(data[at + 8:at + 16], "little")
    p = 16                                         # objects: index u16, refs u16, 4 reserved, size u64
    while p < size:
        index, length = int.from_bytes(data[at + p:at + p + 2], "little"), \
            int.from_bytes(data[at + p + 8:at + p + 16], "little")
        if index == 0:
            return at + p + 8
        p += 16 + (length + 7) // 8 * 8
    raise AssertionError("no free-space object")


@pytest.fixture
def damaged(tmp_path) -> Path:
    """A Keras file whose heap free-space object claims size 0: libhdf5's walk never advances."""
    path = tmp_path / "damaged.h5"
    write_keras2(path)
    data = bytearray(path.read_bytes())
    at = free_space_size_offset(data)
    data[at:at + 8] = bytes(8)
    path.write_bytes(data)
    return path


def test_libhdf5_itself_loops_forever_on_the_damaged_heap(damaged):
    code = f"import h5py; print(h5py.File({str(damaged)!r}, 'r').attrs['keras_version'])"
    try:
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=3)
    except subprocess.TimeoutExpired:
        return                                     # it hangs, as documented in docs/safety.md
    pytest.skip(f"libhdf5 {h5py.version.hdf5_version} no longer hangs on this file")


def test_minicnn_refuses_the_damaged_heap_before_libhdf5_reads_it(damaged):
    for read in (read_keras_h5, load_weights):
        t0 = time.perf_counter()
        with pytest.raises(WeightFileError, match=r"damaged.h5: damaged HDF5 global heap .* object 0 "
                                                  r"at byte \d+ has size 0, which does not advance"):
            read(damaged)
        assert time.perf_counter() - t0 < 1.0


def test_the_same_damage_inside_a_keras_archive_is_refused(damaged, tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.write(damaged, "model.weights.h5")
    with pytest.raises(WeightFileError, match="model.weights.h5: damaged HDF5 global heap"):
        read_keras_archive(path)


def test_a_heap_object_running_past_its_collection_is_refused(tmp_path):
    path = tmp_path / "overrun.h5"
    write_keras2(path)
    data = bytearray(path.read_bytes())
    at = data.find(b"GCOL\x01") + 16 + 8           # the size of the first string object
    data[at:at + 8] = (2**40).to_bytes(8, "little")
    path.write_bytes(data)
    with pytest.raises(WeightFileError, match="runs past the end of the 4096-byte collection"):
        read_keras_h5(path)


def test_healthy_files_pass_the_heap_check(tmp_path):
    path = tmp_path / "big.h5"
    write_keras2(path, n_layers=100)               # 300 strings: several heap collections
    data = path.read_bytes()
    assert data.count(b"GCOL\x01") > 1
    check_hdf5_file(path, str(path))
    assert len(read_keras_h5(path).arrays) == 200
    # Weights whose bytes happen to spell a heap signature are not mistaken for one: the
    # "collection" would not fit in the file, so it is not walked.
    fake = np.frombuffer(b"GCOL\x01\x00\x00\x00" + (2**62).to_bytes(8, "little") + bytes(32), np.float32)
    with h5py.File(path, "a") as f:
        f["dense_0/dense_0/kernel:0"][...] = fake.reshape(3, 4)
    np.testing.assert_array_equal(read_keras_h5(path).arrays["dense_0/kernel"], fake.reshape(3, 4))


# ------------------------------------------------------------------------ timeout=: a child process
def test_reading_in_a_child_gives_the_same_weight_file(tmp_path):
    path = tmp_path / "w.h5"
    write_keras2(path)
    here, there = read_keras_h5(path), read_keras_h5(path, timeout=60)
    assert there.format == "keras_h5" and there.path == str(path) and there.meta == here.meta
    assert list(there.arrays) == list(here.arrays)
    for key, value in here.arrays.items():
        assert there.arrays[key].dtype == value.dtype
        np.testing.assert_array_equal(there.arrays[key], value)


def test_every_format_can_be_read_in_a_child(tmp_path):
    from minicnn.torch_export import save_torch_state_dict   # a torch.save-format zip, no torch

    path = tmp_path / "w.pth"
    save_torch_state_dict({"w": np.arange(6.0, dtype=np.float32).reshape(2, 3),
                           "n": np.array(3, dtype=np.int64)}, path)
    wf = read_weights(path, timeout=60)
    assert wf.format == "torch" and wf.meta["variant"] == "zip"
    np.testing.assert_array_equal(wf.arrays["w"], np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert wf.arrays["n"].dtype == np.int64 and wf.arrays["n"] == 3


def test_a_reader_that_does_not_finish_in_time_is_killed(tmp_path):
    path = tmp_path / "w.h5"
    write_keras2(path)
    t0 = time.perf_counter()       # 10 ms: the child cannot even import NumPy in that time
    with pytest.raises(WeightFileError, match=r"w.h5: reading did not finish within 0.01 s, so "
                                              "the reader process was killed"):
        read_keras_h5(path, timeout=0.01)
    assert time.perf_counter() - t0 < 5.0


def test_a_refusal_in_the_child_keeps_the_readers_message(damaged):
    with pytest.raises(WeightFileError) as here:
        read_keras_h5(damaged)
    with pytest.raises(WeightFileError) as there:
        read_keras_h5(damaged, timeout=60)
    assert str(there.value) == str(here.value)


def test_bad_timeouts_and_formats_are_named(tmp_path):
    path = tmp_path / "w.h5"
    write_keras2(path)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got 0"):
        read_keras_h5(path, timeout=0)
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        read_weights(path, format="pdf", timeout=10)
