"""CIFAR python batches through the restricted unpickler (Python 2 and 3 pickles)."""
from __future__ import annotations

import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from minicnn.io import UnsafePickleError, WeightFileError, load_cifar_batch, load_cifar_meta


def _binstring(b: bytes) -> bytes:  # Python 2 str: SHORT_BINSTRING / BINSTRING
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _int(i: int) -> bytes:
    return b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)


def _py2_value(v, dtype_flags: int = 0) -> bytes:
    if isinstance(v, bytes):
        return _binstring(v)
    if isinstance(v, int):
        return _int(v)
    if isinstance(v, list):
        return b"](" + b"".join(_py2_value(x) for x in v) + b"e"  # EMPTY_LIST MARK .. APPENDS
    assert isinstance(v, np.ndarray) and v.dtype == np.uint8
    # numpy.core.multiarray._reconstruct(ndarray, (0,), 'b'), then BUILD with
    # (1, shape, dtype('u1', 0, 1) BUILD (3, '|', None, None, None, -1, -1, 0), False, raw)
    dtype = (b"cnumpy\ndtype\n" + _binstring(b"u1") + _int(0) + _int(1) + b"\x87R"
             + b"(" + _int(3) + _binstring(b"|") + b"NNN" + _int(-1) + _int(-1)
             + _int(dtype_flags) + b"tb")
    shape = b"(" + b"".join(_int(n) for n in v.shape) + b"t"
    return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + _int(0)
            + b"\x85" + _binstring(b"b") + b"\x87R"
            + b"(" + _int(1) + shape + dtype + b"\x89" + _binstring(v.tobytes()) + b"tb")


def py2_pickle(batch: dict, dtype_flags: int = 0) -> bytes:
    """The bytes Python 2's cPickle.dump(batch, f, 2) writes for a CIFAR batch."""
    items = b"".join(_py2_value(k) + _py2_value(v, dtype_flags) for k, v in batch.items())
    return b"\x80\x02}(" + items + b"u."


def make_batch(rng, n=5, cifar100=False) -> dict:
    batch = {b"batch_label": b"training batch 1 of 5",
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    if cifar100:
        batch[b"fine_labels"] = [int(x) for x in rng.integers(0, 100, n)]
        batch[b"coarse_labels"] = [int(x) for x in rng.integers(0, 20, n)]
    else:
        batch[b"labels"] = [int(x) for x in rng.integers(0, 10, n)]
    return batch


def check(got: dict, batch: dict) -> None:
    np.testing.assert_array_equal(got["data"], batch[b"data"])
    assert got["data"].dtype == np.uint8 and got["data"].shape == batch[b"data"].shape
    for key in ("labels", "fine_labels", "coarse_labels"):
        if key.encode() in batch:
            assert got[key].dtype == np.int64
            assert got[key].tolist() == batch[key.encode()]
    assert got["filenames"] == [f.decode() for f in batch[b"filenames"]]
    assert got["batch_label"] == "training batch 1 of 5"


@pytest.mark.parametrize("cifar100", [False, True])
def test_python2_batch(tmp_path, rng, cifar100):
    batch = make_batch(rng, cifar100=cifar100)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle(batch))
    check(load_cifar_batch(path), batch)
    check(load_cifar_batch(str(path)), batch)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_batches(tmp_path, rng, protocol):
    batch = make_batch(rng, n=300)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    check(load_cifar_batch(path), batch)


def test_batch_from_a_tar_member(tmp_path, rng):
    batch = make_batch(rng)
    raw = py2_pickle(batch)
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    with tarfile.open(tar_path, "r:gz") as tar:
        check(load_cifar_batch(tar.extractfile("cifar-10-batches-py/data_batch_1")), batch)


def test_meta_files(tmp_path):
    path = tmp_path / "batches.meta"
    path.write_bytes(py2_pickle({b"label_names": [b"airplane", b"automobile"],
                                 b"num_cases_per_batch": 10000, b"num_vis": 3072}))
    assert load_cifar_meta(path) == {"label_names": ["airplane", "automobile"],
                                     "num_cases_per_batch": 10000, "num_vis": 3072}


@pytest.mark.parametrize("payload", ["os.system", "os.system-GLOBAL", "builtins.eval",
                                     "subprocess.Popen"])
def test_code_execution_payloads_are_refused(tmp_path, evil_pickles, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(evil_pickles(marker)[payload])
    with pytest.raises(UnsafePickleError, match="refused to load the Python global"):
        load_cifar_batch(path)
    assert not marker.exists()


def test_payload_inside_a_real_batch_is_refused(tmp_path, rng, reduce_payload):
    import os
    marker = tmp_path / "pwned"
    batch = make_batch(rng)
    batch[b"extra"] = reduce_payload(os.system, (f"touch {marker}",))
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_cifar_batch(path)
    assert not marker.exists()


@pytest.mark.parametrize("change, message", [
    ({b"data": np.full((5, 3072), 7, dtype=object)}, "object arrays are refused"),
    ({b"data": np.zeros((5, 100), np.uint8)}, "expected a uint8 array of shape \\(N, 3072\\)"),
    ({b"data": np.zeros((5, 3072), np.float32)}, "expected a uint8 array"),
    ({b"labels": [0, 1, 2]}, "expected 5 integer labels"),
    ({b"labels": [0, 1, 2, 3, 10]}, "expected \\[0, 10\\)"),
    ({b"labels": None}, "integer labels"),
])
def test_malformed_batches(tmp_path, rng, change, message):
    batch = make_batch(rng)
    batch.update(change)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(WeightFileError, match=message):
        load_cifar_batch(path)


def test_truncated_empty_and_non_dict(tmp_path, rng):
    data = py2_pickle(make_batch(rng))
    path = tmp_path / "cut_batch"
    for n in (0, 1, 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:n])
        with pytest.raises(WeightFileError, match="cut_batch"):
            load_cifar_batch(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(WeightFileError, match="expected a dict"):
        load_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}))
    with pytest.raises(WeightFileError, match="no labels"):
        load_cifar_batch(path)


def test_huge_memo_index_is_refused_before_unpickling(tmp_path):
    # EMPTY_DICT, LONG_BINPUT 2**32-1: CPython would first grow its memo to 2**33 slots.
    path = tmp_path / "memo_bomb"
    path.write_bytes(b"\x80\x02}r\xff\xff\xff\xff.")
    with pytest.raises(WeightFileError, match="memo entry 4294967295 after only 2 opcodes"):
        load_cifar_batch(path)


def test_numpy_setstate_is_never_reached(tmp_path, rng):
    # dtype flags 0xFF would make NumPy read the raw bytes as object pointers (it
    # segfaults); the stand-in accepts only the state NumPy writes for plain dtypes.
    path = tmp_path / "batch"
    path.write_bytes(py2_pickle(make_batch(rng), dtype_flags=0xFF))
    with pytest.raises(UnsafePickleError, match="dtype state"):
        load_cifar_batch(path)
    # Calling numpy.ndarray((10**12,)) would allocate 8 TB: ndarray is only a marker.
    path.write_bytes(b"\x80\x02cnumpy\nndarray\n\x8a\x05" + (10**12).to_bytes(5, "little")
                     + b"\x85\x85R.")
    with pytest.raises(WeightFileError, match="not callable"):
        load_cifar_batch(path)
    # _reconstruct may only build NumPy's usual empty (0,) shell.
    path.write_bytes(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                     b"\x8a\x05" + (10**12).to_bytes(5, "little") + b"\x85U\x01b\x87R.")
    with pytest.raises(UnsafePickleError, match="expected \\(numpy.ndarray, \\(0,\\)\\)"):
        load_cifar_batch(path)
