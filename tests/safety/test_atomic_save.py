"""Saving without losing: a crash or a full disk mid-write never leaves a file that loads as
valid but wrong, and never destroys the previous checkpoint; a flipped byte is caught on load.

Checkpoints (``minicnn.save``, ``minicnn.train.save_checkpoint``) and converted weight files
(``save_npz``, ``save_safetensors``) are written by ``minicnn.io._fileio.atomic_write``: into a
temporary file in the same folder, flushed and fsync'ed, then renamed over the target, which
the OS does atomically -- a reader sees the old file or the new one, never a mix.
"""
from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn.io import WeightFileError, load_npz, read_safetensors, save_npz, save_safetensors
from minicnn.io import _fileio


def new_state(epoch: int) -> dict:
    rng = np.random.default_rng(epoch)
    return {"model": {"conv.weight": rng.standard_normal((16, 8, 3, 3)).astype(np.float32),
                      "fc.weight": rng.standard_normal((10, 400)).astype(np.float32)},
            "epoch": epoch, "history": {"loss": [2.3, 1.1][:epoch]}}


def assert_is_state(loaded: dict, epoch: int) -> None:
    want = new_state(epoch)
    assert loaded["epoch"] == epoch and loaded["history"] == want["history"]
    for key, value in want["model"].items():
        np.testing.assert_array_equal(loaded["model"][key], value)


def leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


# ------------------------------------------------------------------------ a full disk, any moment
class DiskFills:
    """A file object that accepts ``budget`` bytes, then fails like a full disk (ENOSPC)."""

    def __init__(self, raw, budget: int) -> None:
        self.raw, self.budget = raw, budget

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        if len(data) > self.budget:
            self.raw.write(data[:self.budget])   # the part that fit
            self.budget = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.budget -= len(data)
        return self.raw.write(data)

    def __getattr__(self, name):                # seek, tell, flush, fileno, close ...
        return getattr(self.raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.raw.close()


def fill_disk_after(monkeypatch, budget: int) -> None:
    real_fdopen = os.fdopen
    monkeypatch.setattr(_fileio.os, "fdopen", lambda fd, mode: DiskFills(real_fdopen(fd, mode), budget))


def check_npz(path: Path, epoch: int) -> None:
    arrays, manifest = load_npz(path)
    assert manifest["epoch"] == epoch
    for key, value in new_state(epoch)["model"].items():
        np.testing.assert_array_equal(arrays[key], value)


SAVERS = {  # name: (save(path, epoch), check(path, epoch))
    "minicnn.save": (lambda path, e: minicnn.save(new_state(e), path),
                     lambda path, e: assert_is_state(minicnn.load(path), e)),
    "save_npz": (lambda path, e: save_npz(path, new_state(e)["model"], {"epoch": e}), check_npz),
}


@pytest.mark.parametrize("saver", SAVERS)
@pytest.mark.parametrize("fraction", [0.0, 0.004, 0.3, 0.7, 0.999])
def test_a_full_disk_mid_write_keeps_the_previous_file(tmp_path, monkeypatch, saver, fraction):
    save, check = SAVERS[saver]
    path = tmp_path / "ckpt.npz"
    save(path, 2)
    size = path.stat().st_size
    save(path, 1)
    with monkeypatch.context() as m:
        fill_disk_after(m, int(fraction * size))   # the disk is full that far into the new file
        with pytest.raises(OSError) as err:
            save(path, 2)
    assert err.value.errno == errno.ENOSPC
    check(path, 1)                                 # the previous checkpoint, intact
    assert leftovers(tmp_path, "ckpt.npz") == []   # and the partial temp file is gone
    save(path, 2)                                  # once there is room again, saving works
    check(path, 2)


def test_a_full_disk_mid_write_keeps_the_previous_safetensors_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_safetensors(path, new_state(1)["model"])
    with monkeypatch.context() as m:
        fill_disk_after(m, 20_000)
        with pytest.raises(OSError):
            save_safetensors(path, new_state(2)["model"])
    np.testing.assert_array_equal(read_safetensors(path).arrays["fc.weight"], new_state(1)["model"]["fc.weight"])
    assert leftovers(tmp_path, "w.safetensors") == []


@pytest.mark.parametrize("fails", ["fsync", "replace"])
def test_a_failing_fsync_or_rename_keeps_the_previous_file(tmp_path, monkeypatch, fails):
    path = tmp_path / "ckpt.npz"
    minicnn.save(new_state(1), path)

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with monkeypatch.context() as m:
        m.setattr(_fileio.os, fails, broken)
        with pytest.raises(OSError):
            minicnn.save(new_state(2), path)
    assert_is_state(minicnn.load(path), 1)
    assert leftovers(tmp_path, "ckpt.npz") == []


def test_a_file_cut_anywhere_never_loads(tmp_path):
    # What a crash without atomic_write would leave behind: a prefix of the file. No prefix loads.
    path = tmp_path / "ckpt.npz"
    minicnn.save(new_state(2), path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in range(0, len(data), 997):
        cut.write_bytes(data[:n])
        with pytest.raises(WeightFileError):
            minicnn.load(cut)


# ------------------------------------------------------------------------ a crash: SIGKILL
_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import minicnn
    from minicnn import nn
    from minicnn.train import save_checkpoint

    model = nn.Linear(1024, 2048)          # 8 MB of weights: each save takes a while
    path = sys.argv[1]
    for epoch in range(1, 10**6):
        model.weight.data[...] = epoch     # every value names the epoch it was saved in
        model.bias.data[...] = epoch
        save_checkpoint(path, model, epoch=epoch)
        print(epoch, flush=True)
""")


def _kill_mid_write(proc: subprocess.Popen, folder: Path, keep: str, extra_delay: float) -> None:
    """SIGKILL the writer while a checkpoint is being written: once its temporary file exists.

    A fixed delay alone often lands between two saves (each takes a few ms on a fast disk,
    so under load no kill may hit a write); waiting for the temporary file makes most do.
    """
    deadline = time.monotonic() + 5.0
    while not leftovers(folder, keep) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.0005)
    time.sleep(extra_delay)                     # somewhere inside the write, not only its start
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_while_writing_checkpoints_never_leaves_a_bad_one(tmp_path):
    path = tmp_path / "ckpt.npz"
    interrupted = 0
    for extra_delay in (0.0, 0.0, 0.001, 0.002, 0.004):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE)
        proc.stdout.readline()                  # the first checkpoint of this run is complete
        _kill_mid_write(proc, tmp_path, "ckpt.npz", extra_delay)
        state = minicnn.load(path)              # the last complete checkpoint, never a mix
        epoch = state["epoch"]
        assert epoch >= 1
        assert (state["model"]["weight"] == epoch).all() and (state["model"]["bias"] == epoch).all()
        for name in leftovers(tmp_path, "ckpt.npz"):   # a temp file SIGKILL left behind
            interrupted += 1
            try:
                other = minicnn.load(tmp_path / name)
            except WeightFileError:
                pass                            # a partial file is refused ...
            else:                               # ... or it was complete, just not renamed yet
                assert (other["model"]["weight"] == other["epoch"]).all()
            (tmp_path / name).unlink()
    assert interrupted >= 1, "no kill landed inside a write: the test did not test anything"


# ------------------------------------------------------------------------ a flipped byte
def _member_offset(path: Path, member: str) -> int:
    """Byte offset in the file of the first data byte of ``member`` (after its .npy header)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        with zf.open(info) as f:
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
            header = f.tell()
    with open(path, "rb") as f:                 # local header: 30 bytes + name + extra field
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), "<u2")
    return info.header_offset + 30 + int(name_len) + int(extra_len) + header


def test_a_flipped_byte_in_an_array_is_caught_on_load(tmp_path):
    path = tmp_path / "ckpt.npz"
    minicnn.save(new_state(1), path)
    data = bytearray(path.read_bytes())
    data[_member_offset(path, "model/fc.weight.npy") + 123] ^= 0x10
    path.write_bytes(data)
    with pytest.raises(WeightFileError, match=r"ckpt.npz: .*Bad CRC-32 for file 'model/fc.weight.npy'"):
        minicnn.load(path)


def test_a_flipped_byte_with_a_forged_crc_fails_the_sha256(tmp_path):
    # Rewrite the archive with the byte flipped and every zip CRC recomputed: only the SHA-256
    # in the manifest can tell.
    good, bad = tmp_path / "good.npz", tmp_path / "ckpt.npz"
    minicnn.save(new_state(1), good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            content = bytearray(src.read(info))
            if info.filename == "model/conv.weight.npy":
                content[-5] ^= 0x01
            dst.writestr(info.filename, bytes(content))
    with pytest.raises(WeightFileError, match=r"ckpt.npz: array 'model/conv.weight' fails its "
                                              r"SHA-256 check .* the file was modified or corrupted"):
        minicnn.load(bad)


# ------------------------------------------------------------------------ a damaged manifest
def _rewrite_manifest(src: Path, dst: Path, edit) -> None:
    """Copy the archive, replacing the manifest's JSON text by ``edit(text)`` (valid CRCs)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            content = zin.read(info)
            if info.filename == "__manifest__.npy":
                with zin.open(info) as f:
                    text = np.lib.format.read_array(f, allow_pickle=False).tobytes()
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.frombuffer(edit(text), np.uint8), allow_pickle=False)
                content = buf.getvalue()
            zout.writestr(info.filename, content)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(b'"model/fc.weight"}', b'"model/fc.weigth"}'),
     r"the checkpoint's manifest does not match its arrays \(model/fc.weight refers to array "
     r"'model/fc.weigth', which the file does not hold\)"),
    (lambda t: t.replace(b'"epoch": 1', b'"epoch": 1, "__int__x": 2'), r"has the key '__int__x'"),
    (lambda t: t.replace(b'"epoch": 1', b'"epoch": ' + b"[" * 100_000 + b"]" * 100_000),
     r"__manifest__ is not UTF-8 JSON \(maximum recursion depth"),
])
def test_a_damaged_manifest_is_a_clear_error(tmp_path, edit, message):
    good, bad = tmp_path / "good.npz", tmp_path / "ckpt.npz"
    minicnn.save(new_state(1), good)
    _rewrite_manifest(good, bad, edit)
    with pytest.raises(WeightFileError, match=message):
        minicnn.load(bad)
