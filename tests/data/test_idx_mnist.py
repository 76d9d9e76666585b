"""IDX reading (hand-written files) and the MNIST / Fashion-MNIST loaders, local and downloaded."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct

import numpy as np
import pytest

from minicnn.data import mnist as mnist_mod
from minicnn.data.mnist import MNIST, FashionMNIST, load_mnist, read_idx
from minicnn.download import DownloadError

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
              np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding written out by hand: 00 00 type ndim, big-endian dims, big-endian data."""
    header = bytes([0, 0, TYPE_CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def fake_mnist(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_split(root, prefix: str, images, labels, compress: bool = True) -> dict[str, bytes]:
    """Write <prefix>-images-idx3-ubyte(.gz) and labels; return {file name: bytes}."""
    files = {}
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        name, data = f"{prefix}-{kind}-ubyte", idx_bytes(array)
        if compress:
            name, data = name + ".gz", gzip.compress(data)
        (root / name).write_bytes(data)
        files[name] = data
    return files


# ---- read_idx ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    offset = 0 if dtype == np.uint8 else 5                    # negatives for signed types
    array = (np.arange(24) - offset).astype(dtype).reshape(2, 3, 4)
    data = idx_bytes(array)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1                                           # writable, not a read-only view


def test_big_endian_is_decoded(tmp_path):
    path = tmp_path / "x.idx"
    header = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2)       # int32, 1 dim, 2 elements
    path.write_bytes(header + b"\x00\x00\x01\x00" + b"\xff\xff\xff\xff")
    np.testing.assert_array_equal(read_idx(path), [256, -1])


def test_bad_magic_is_refused(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>403 Forbidden</html>")
    with pytest.raises(ValueError, match="not an IDX file: it starts with bytes 3c 68 74 6d"):
        read_idx(path)


def test_unknown_type_code_is_refused(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


def test_truncated_raw_file_reports_sizes(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    path = tmp_path / "t"
    path.write_bytes(data[:-100])
    with pytest.raises(ValueError, match=rf"16 \+ 2352 = 2368 bytes, but the file has 2268"):
        read_idx(path)


def test_truncated_gzip_is_refused(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    path = tmp_path / "t.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="t.gz"):
        read_idx(path)


def test_huge_header_on_small_file_fails_before_allocating(tmp_path):
    path = tmp_path / "liar"
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 4_000_000_000, 28, 28)
    path.write_bytes(header + b"\0" * 10)
    with pytest.raises(ValueError, match="the file has 26 bytes"):
        read_idx(path)                                          # no MemoryError for 3 TB


def test_gzip_header_lying_by_a_multiple_of_4_gib_is_caught(tmp_path):
    # dims (2, 2**31 + 2) announce 12 + 2**32 + 4 bytes, which is 16 mod 2**32: the same as
    # the 16 bytes really compressed, so the trailer agrees and only the deflate bound
    # (at most ~1032x expansion) shows the header is impossible -- before 4 GiB is allocated.
    header = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2, 2**31 + 2)
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(header + b"abcd"))
    with pytest.raises(ValueError, match="the gzip trailer records 16 bytes"):
        read_idx(path)


def test_trailing_bytes_are_refused(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"extra")
    with pytest.raises(ValueError, match="the file has 17 bytes"):
        read_idx(path)


# ---- load_mnist / MNIST from a folder ----------------------------------------------------
def test_mnist_from_local_gz_files(tmp_path):
    images, labels = fake_mnist(7)
    write_split(tmp_path, "train", images, labels)
    ds = MNIST(tmp_path, "train")
    assert len(ds) == 7 and ds.images.shape == (7, 1, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64 and ds.classes == [str(d) for d in range(10)]
    image, label = ds[3]
    assert image.dtype == np.float32 and image.shape == (1, 28, 28)
    np.testing.assert_array_equal(image[0], images[3] / np.float32(255))
    assert label == labels[3]


def test_uncompressed_files_work_too(tmp_path):
    images, labels = fake_mnist(4, seed=1)
    write_split(tmp_path, "t10k", images, labels, compress=False)
    got_images, got_labels = load_mnist(tmp_path, "test")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_missing_file_without_download_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, "train")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz not found in " + str(tmp_path) in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    assert "download=True" in message


def test_label_count_must_match_images(tmp_path):
    images, labels = fake_mnist(5)
    write_split(tmp_path, "train", images, labels[:4])
    with pytest.raises(ValueError, match="expected 5 uint8 labels"):
        load_mnist(tmp_path)


def test_labels_out_of_range_are_refused(tmp_path):
    images, labels = fake_mnist(3)
    write_split(tmp_path, "train", images, np.array([1, 2, 10], np.uint8))
    with pytest.raises(ValueError, match="label 10 found"):
        load_mnist(tmp_path)


def test_bad_split_name():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist(split="validation")


def test_default_root_is_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_HOME", str(tmp_path))
    (tmp_path / "fashion-mnist").mkdir()
    write_split(tmp_path / "fashion-mnist", "train", *fake_mnist(2))
    ds = FashionMNIST()
    assert len(ds) == 2 and ds.classes[9] == "Ankle boot"


# ---- download path (local server; the URL/hash table is patched) -------------------------
def _serve_split(http_server, folder: str, tmp_path, n=6):
    images, labels = fake_mnist(n, seed=2)
    src = tmp_path / "src"
    src.mkdir()
    files = write_split(src, "train", images, labels)
    for name, data in files.items():
        http_server.serve(f"{folder}/{name}", data)
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return images, labels, hashes


def test_download_true_fetches_verifies_and_falls_back_to_mirror(http_server, tmp_path,
                                                                  monkeypatch):
    images, labels, hashes = _serve_split(http_server, "mirror", tmp_path)
    source = dataclasses.replace(mnist_mod.MNIST_SOURCE, sha256=hashes,
                                 base_urls=(http_server.url("dead/"), http_server.url("mirror/")))
    monkeypatch.setattr(MNIST, "source", source)
    root = tmp_path / "root"
    ds = MNIST(root, "train", download=True)
    np.testing.assert_array_equal(ds.images[:, 0], images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert sorted(p.name for p in root.iterdir()) == sorted(hashes)     # no .part left
    first = len(http_server.requests)
    MNIST(root, "train", download=True)                                 # cached: no network
    assert len(http_server.requests) == first


def test_download_with_wrong_published_hash_fails_and_keeps_nothing(http_server, tmp_path,
                                                                     monkeypatch):
    _, _, hashes = _serve_split(http_server, "m", tmp_path)
    bad = {name: "0" * 64 for name in hashes}
    source = dataclasses.replace(mnist_mod.MNIST_SOURCE, sha256=bad,
                                 base_urls=(http_server.url("m/"),))
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        load_mnist(root, "train", download=True, source=source)
    assert list(root.iterdir()) == []


def test_download_offline_names_file_and_folder(refused_url, tmp_path):
    source = dataclasses.replace(mnist_mod.MNIST_SOURCE, base_urls=(refused_url + "/",))
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path / "r", "test", download=True, source=source)
    assert "'t10k-images-idx3-ubyte.gz'" in str(info.value)
    assert str(tmp_path / "r") in str(info.value)


def test_published_hashes_are_well_formed():
    for source in (mnist_mod.MNIST_SOURCE, mnist_mod.FASHION_MNIST_SOURCE):
        assert len(source.sha256) == 4
        for digest in source.sha256.values():
            assert len(digest) == 64 and int(digest, 16) >= 0
