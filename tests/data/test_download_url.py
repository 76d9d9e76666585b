"""download_url against a local HTTP server: atomic, verified, resumable, with mirrors."""
from __future__ import annotations

import hashlib
import os

import pytest

from minicnn.download import DownloadError, cache_dir, download_url, sha256_file

BODY = bytes(range(256)) * 400            # 102,400 bytes
SHA = hashlib.sha256(BODY).hexdigest()


def test_good_download_lands_complete_and_leaves_no_part(http_server, tmp_path):
    url = http_server.serve("data/file.bin", BODY)
    dest = tmp_path / "sub" / "file.bin"
    assert download_url(url, dest, SHA, progress=False) == dest
    assert dest.read_bytes() == BODY
    assert sorted(os.listdir(dest.parent)) == ["file.bin"]           # no file.bin.part


def test_existing_file_with_right_hash_is_reused_without_network(http_server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(BODY)
    url = http_server.serve("file.bin", b"something else")
    download_url(url, dest, SHA, progress=False)
    assert http_server.requests == []
    assert dest.read_bytes() == BODY


def test_existing_file_with_wrong_hash_is_an_error_and_is_kept(http_server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"hand-placed but wrong")
    with pytest.raises(ValueError, match="delete it") as info:
        download_url(http_server.serve("file.bin", BODY), dest, SHA, progress=False)
    assert SHA in str(info.value) and sha256_file(dest) in str(info.value)
    assert dest.read_bytes() == b"hand-placed but wrong"
    assert http_server.requests == []


def test_wrong_checksum_raises_naming_both_hashes_and_leaves_nothing(http_server, tmp_path):
    url = http_server.serve("file.bin", BODY[:-1] + b"X")
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as info:
        download_url(url, dest, SHA, progress=False)
    message = str(info.value)
    assert f"expected {SHA}" in message
    assert f"got {hashlib.sha256(BODY[:-1] + b'X').hexdigest()}" in message
    assert os.listdir(tmp_path) == []                                  # no final, no .part


def test_truncated_download_raises_keeps_only_part_then_resumes_with_range(http_server, tmp_path):
    url = http_server.serve("file.bin", BODY, mode="truncate")
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=f"got {len(BODY) // 2} of {len(BODY)} bytes"):
        download_url(url, dest, SHA, progress=False)
    assert not dest.exists()
    part = tmp_path / "file.bin.part"
    assert part.read_bytes() == BODY[: len(BODY) // 2]

    http_server.serve("file.bin", BODY, mode="ok")                     # the server recovers
    download_url(url, dest, SHA, progress=False)
    assert dest.read_bytes() == BODY and not part.exists()
    assert http_server.requests[-1] == ("/file.bin", f"bytes={len(BODY) // 2}-")


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes from another attempt")
    url = http_server.serve("file.bin", BODY, mode="no-range")
    dest = download_url(url, tmp_path / "file.bin", SHA, progress=False)
    assert dest.read_bytes() == BODY


def test_part_longer_than_file_restarts_after_416(http_server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(b"x" * (len(BODY) + 10))
    dest = download_url(http_server.serve("file.bin", BODY), tmp_path / "file.bin", SHA,
                        progress=False)
    assert dest.read_bytes() == BODY


def test_first_url_404_falls_back_to_mirror(http_server, tmp_path):
    official = http_server.serve("official/file.bin", mode="404")
    mirror = http_server.serve("mirror/file.bin", BODY)
    dest = download_url([official, mirror], tmp_path / "file.bin", SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert [path for path, _ in http_server.requests] == ["/official/file.bin",
                                                          "/mirror/file.bin"]


def test_offline_error_names_file_folder_and_urls(refused_url, tmp_path):
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(DownloadError) as info:
        download_url(refused_url, dest, SHA, progress=False, timeout=5)
    err = info.value
    assert isinstance(err, OSError)
    message = str(err)
    assert "'file.bin'" in message and str(dest.parent) in message
    assert refused_url in message and SHA in message
    assert err.dest == dest and err.urls == [refused_url] and len(err.reasons) == 1
    assert not dest.exists()


def test_no_hash_checks_size_only(http_server, tmp_path):
    dest = download_url(http_server.serve("f", BODY), tmp_path / "f", None, progress=False)
    assert dest.read_bytes() == BODY


def test_non_http_url_is_refused(tmp_path):
    with pytest.raises(ValueError, match="http"):
        download_url("file:///etc/passwd", tmp_path / "x", None)


def test_progress_bar_reports_bytes_when_enabled(http_server, tmp_path, capsys):
    download_url(http_server.serve("f.bin", BODY), tmp_path / "f.bin", SHA, progress=True)
    err = capsys.readouterr().err                  # not a terminal: one summary line
    assert err.count("\n") == 1 and "f.bin" in err and "102kB" in err


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(BODY)
    assert sha256_file(path, chunk_bytes=1000) == SHA


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_HOME", str(tmp_path / "home"))
    assert cache_dir("mnist") == tmp_path / "home" / "mnist"
    monkeypatch.delenv("MINICNN_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "minicnn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache_dir("cifar10") == tmp_path / "user" / ".cache" / "minicnn" / "cifar10"
