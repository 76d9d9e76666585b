"""safetensors: our reader/writer agree with the safetensors package; lies are refused."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from minicnn.io import WeightFileError, read_safetensors, save_safetensors

st_numpy = pytest.importorskip("safetensors.numpy")


def sample_arrays(rng):
    return {
        "features.0.weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "features.0.bias": rng.standard_normal(8).astype(np.float16),
        "bn.num_batches_tracked": np.array(17, dtype=np.int64),      # 0-d
        "f64": rng.standard_normal((2, 2)),
        "u8": np.arange(5, dtype=np.uint8),
        "i32": np.array([[-1, 2, 3]], dtype=np.int32),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
    }


def assert_same(got, want):
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_reads_files_written_by_safetensors(tmp_path, rng):
    arrays = sample_arrays(rng)
    path = tmp_path / "ref.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"format": "np"})
    wf = read_safetensors(path)
    assert wf.format == "safetensors" and wf.meta["metadata"] == {"format": "np"}
    assert_same(wf.arrays, arrays)


def test_our_writer_is_read_by_safetensors_and_keeps_order(tmp_path, rng):
    arrays = sample_arrays(rng)
    path = tmp_path / "ours.safetensors"
    save_safetensors(path, arrays, metadata={"source": "minicnn"})
    assert_same(st_numpy.load_file(str(path)), arrays)
    wf = read_safetensors(path)
    assert list(wf.arrays) == list(arrays) and wf.meta["metadata"] == {"source": "minicnn"}
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    assert (8 + header_len) % 8 == 0  # data buffer is 8-byte aligned


def test_bfloat16_is_widened_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.tensor([1.0, -2.5, 3.140625, 1e30]).bfloat16()
    path = tmp_path / "bf16.safetensors"
    st_torch.save_file({"w": t}, str(path))
    wf = read_safetensors(path)
    assert wf.meta["dtypes"]["w"] == "BF16" and wf.arrays["w"].dtype == np.float32
    np.testing.assert_array_equal(wf.arrays["w"], t.float().numpy())


def write_raw(path, header: dict, data: bytes, header_len: int | None = None) -> None:
    text = json.dumps(header).encode()
    n = len(text) if header_len is None else header_len
    path.write_bytes(n.to_bytes(8, "little") + text + data)


F32_4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}


@pytest.mark.parametrize("header, data, message", [
    ({"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}},
     b"\0" * 16, "past the end"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 32]}}, b"\0" * 16,
     "needs 16 bytes"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}}, b"\0" * 16,
     "past the end"),
    ({"a": F32_4, "b": F32_4}, b"\0" * 16, "overlaps"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [4, 20]}}, b"\0" * 20,
     "leaves a hole"),
    ({"a": F32_4}, b"\0" * 20, "no trailing bytes"),
    ({"a": {"dtype": "F99", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, "dtype 'F99'"),
    ({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16, "shape"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, b"\0" * 16,
     "data_offsets"),
    ({"a": {"dtype": "F32", "shape": [4]}}, b"\0" * 16, "expected keys"),
    ({"__metadata__": {"n": 3}, "a": F32_4}, b"\0" * 16, "__metadata__"),
])
def test_lying_headers_are_refused_quickly(tmp_path, header, data, message):
    path = tmp_path / "lie.safetensors"
    write_raw(path, header, data)
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match=message):
        read_safetensors(path)
    assert time.perf_counter() - start < 5.0


def test_bad_header_length_json_and_duplicates(tmp_path):
    path = tmp_path / "bad.safetensors"
    write_raw(path, {"a": F32_4}, b"\0" * 16, header_len=2**60)
    with pytest.raises(WeightFileError, match="header length 1152921504606846976 does not fit"):
        read_safetensors(path)
    path.write_bytes((5).to_bytes(8, "little") + b"[1,2]")
    with pytest.raises(WeightFileError, match="expected a JSON object"):
        read_safetensors(path)
    path.write_bytes((9).to_bytes(8, "little") + b"{not json")
    with pytest.raises(WeightFileError, match="not valid UTF-8 JSON"):
        read_safetensors(path)
    text = b'{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},' \
           b'"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    with pytest.raises(WeightFileError, match="repeats a key"):
        read_safetensors(path)


def test_truncated_and_empty_files(tmp_path, rng):
    path = tmp_path / "full.safetensors"
    save_safetensors(path, sample_arrays(rng))
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in (0, 3, 8, 20, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:n])
        with pytest.raises(WeightFileError, match="cut.safetensors"):
            read_safetensors(cut)


def test_writer_rejects_unstorable_input(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        save_safetensors(tmp_path / "x", {"a": np.array([object()])})
    with pytest.raises(ValueError, match="__metadata__"):
        save_safetensors(tmp_path / "x", {"__metadata__": np.zeros(1)})
    with pytest.raises(TypeError, match="str -> str"):
        save_safetensors(tmp_path / "x", {"a": np.zeros(1)}, metadata={"n": 1})
    assert not (tmp_path / "x").exists()
