"""CIFAR-10/100 from hand-made tarballs: safe extraction, safe unpickling, download."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle          # only to WRITE test fixtures; minicnn never uses pickle.load
import tarfile

import numpy as np
import pytest

from minicnn.data import cifar as cifar_mod
from minicnn.data.cifar import CIFAR10, CIFAR100, extract_members, load_cifar

pytest.importorskip("minicnn.io.safe_pickle")

CIFAR10_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                 b"horse", b"ship", b"truck"]


def batch(n: int, seed: int, **labels: list[int]) -> dict:
    rng = np.random.default_rng(seed)
    d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"batch_label": b"batch"}
    d.update({k.encode(): v for k, v in labels.items()})
    return d


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_cifar10_tar(path, extra=None) -> dict[str, dict]:
    """A CIFAR-10-shaped tarball with 2 images per training batch and 3 test images."""
    batches = {f"data_batch_{i}": batch(2, i, labels=[i, (i + 1) % 10]) for i in range(1, 6)}
    batches["test_batch"] = batch(3, 9, labels=[7, 8, 9])
    meta = {b"label_names": CIFAR10_NAMES, b"num_cases_per_batch": 2}
    with tarfile.open(path, "w:gz") as tar:
        for name, d in batches.items():
            add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(d, protocol=2))
        add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        add(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
        for name, data in (extra or {}).items():
            add(tar, name, data)
    return batches


def test_cifar10_from_tarball(tmp_path):
    batches = make_cifar10_tar(tmp_path / "cifar-10-python.tar.gz")
    train = CIFAR10(tmp_path, "train")
    assert train.images.shape == (10, 3, 32, 32) and train.images.dtype == np.uint8
    expected = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    np.testing.assert_array_equal(train.images.reshape(10, 3072), expected)
    np.testing.assert_array_equal(train.labels, [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
    assert train.labels.dtype == np.int64 and train.classes[0] == "airplane"
    # data row = R plane, G plane, B plane: pixel (c, i, j) is data[c*1024 + i*32 + j]
    assert train.images[0, 1, 2, 3] == expected[0, 1 * 1024 + 2 * 32 + 3]
    image, label = train[0]
    assert image.dtype == np.float32 and image.shape == (3, 32, 32) and label == 1
    test = CIFAR10(tmp_path, "test")
    np.testing.assert_array_equal(test.labels, [7, 8, 9])


def test_extraction_is_reused_without_the_tarball(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_cifar10_tar(archive)
    CIFAR10(tmp_path, "test")
    os.remove(archive)
    assert len(CIFAR10(tmp_path, "test")) == 3
    assert not (tmp_path / "cifar-10-batches-py" / "readme.html").exists()   # not needed


def test_path_traversal_and_unknown_members_are_not_extracted(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    make_cifar10_tar(root / "cifar-10-python.tar.gz",
                     extra={"../escaped.txt": b"x", "/tmp/absolute.txt": b"x",
                            "cifar-10-batches-py/../../up.txt": b"x"})
    CIFAR10(root, "train")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "up.txt").exists()
    assert sorted(os.listdir(root / "cifar-10-batches-py")) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"])


def test_expected_member_as_symlink_is_refused(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("d/wanted")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ValueError, match="should be a regular file, but is a link"):
        extract_members(archive, tmp_path / "out", ["d/wanted"])
    assert not (tmp_path / "out" / "d" / "wanted").exists()


def test_missing_member_is_reported(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "d/one", b"1")
    with pytest.raises(ValueError, match=r"missing \['d/two'\]"):
        extract_members(archive, tmp_path / "out", ["d/one", "d/two"])


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_pickle_in_batch_does_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Exploit()}, protocol=2))
    with pytest.raises(ValueError, match="refused to load the Python global"):
        load_cifar(tmp_path, "train")
    assert not (tmp_path / "pwned").exists()


def test_cifar100_fine_and_coarse(tmp_path):
    train = batch(4, 1, fine_labels=[0, 50, 99, 3], coarse_labels=[0, 10, 19, 3])
    test = batch(2, 2, fine_labels=[1, 2], coarse_labels=[1, 2])
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as tar:
        for name, d in (("train", train), ("test", test), ("meta", meta)):
            add(tar, f"cifar-100-python/{name}", pickle.dumps(d, protocol=2))
    fine = CIFAR100(tmp_path, "train")
    np.testing.assert_array_equal(fine.labels, [0, 50, 99, 3])
    assert len(fine.classes) == 100 and fine.classes[50] == "fine50"
    coarse = CIFAR100(tmp_path, "train", label_mode="coarse")
    np.testing.assert_array_equal(coarse.labels, [0, 10, 19, 3])
    assert coarse.classes[19] == "coarse19"


def test_missing_everything_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        CIFAR10(tmp_path)
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path) in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message


def test_download_then_extract(http_server, tmp_path, monkeypatch):
    make_cifar10_tar(tmp_path / "served.tar.gz")
    data = (tmp_path / "served.tar.gz").read_bytes()
    url = http_server.serve("kriz/cifar-10-python.tar.gz", data)
    monkeypatch.setattr(cifar_mod, "CIFAR10_SOURCE", dataclasses.replace(
        cifar_mod.CIFAR10_SOURCE, urls=(url,), sha256=hashlib.sha256(data).hexdigest()))
    root = tmp_path / "root"
    assert len(CIFAR10(root, "train", download=True)) == 10
    assert (root / "cifar-10-python.tar.gz").read_bytes() == data


def test_download_with_wrong_hash_leaves_nothing(http_server, tmp_path, monkeypatch):
    make_cifar10_tar(tmp_path / "served.tar.gz")
    url = http_server.serve("c.tar.gz", (tmp_path / "served.tar.gz").read_bytes())
    monkeypatch.setattr(cifar_mod, "CIFAR10_SOURCE", dataclasses.replace(
        cifar_mod.CIFAR10_SOURCE, urls=(url,), sha256="1" * 64))
    root = tmp_path / "root"
    with pytest.raises(OSError, match="SHA-256 mismatch"):
        CIFAR10(root, download=True)
    assert list(root.iterdir()) == []
