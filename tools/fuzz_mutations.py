"""Deterministic mutations of a valid file: the cases ``tools/fuzz_readers.py`` feeds a reader.

Case ``i`` of a run is a pure function of (seed file bytes, run seed, target name, i): it uses
its own ``random.Random("<seed>/<target>/<i>")`` (string seeds are hashed with SHA-512, so
the stream is the same on every machine and Python version), so any failing case can be
rebuilt from its number alone.

A case applies one to three mutations, chosen from

    flip_bits       flip 1-4 single bits
    set_byte        overwrite 1-3 bytes with 0x00, 0x01, 0x7F, 0x80 or 0xFF
    set_int         write a 2-, 4- or 8-byte extreme integer (0x7FFFFFFF, 2**64 - 1, 10**11,
                    ...), little- or big-endian, at a random offset
    huge_length     find a field that looks like a length or an offset (an int between 1 and
                    the file size) and make it huge: "a 100 GB tensor in a 1 KB file"
    ascii_number    the same for numbers written as text (JSON headers, .npy header dicts)
    truncate        cut the file at a random point
    swap_chunks     swap two chunks (e.g. two header fields)
    duplicate_chunk insert a copy of a chunk elsewhere
    delete_chunk    remove a chunk
    insert_bytes    insert random bytes
    append          append zeros or random bytes
    zip_member      (zip files) mutate the *content* of one member and rebuild the archive with
                    correct CRCs, so the reader's own parser -- not zip's CRC check -- meets it
    gzip_payload    (gzip files) the same for the compressed payload

Offsets are drawn a third of the time from the first 512 bytes (headers), a third from the
last 512 (zip central directories, trailers) and a third from anywhere.
"""
from __future__ import annotations

import gzip
import io
import random
import re
import zipfile
from collections.abc import Callable

Mutation = Callable[[bytes, random.Random], tuple[bytes, str]]

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)
EXTREME_INTS = {2: (0x7FFF, 0x8000, 0xFFFF),
                4: (0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x40000000, 10**9),
                8: (2**63 - 1, 2**63, 2**64 - 1, 2**40, 10**11, 2**32)}
HUGE_TEXT = (b"100000000000", b"99999999999999999999999", b"4294967296", b"-1", b"0", b"1e308")
_REGION = 512


def _offset(data: bytes, rng: random.Random, width: int = 1) -> int:
    """A random offset for a ``width``-byte field, biased to the head and the tail."""
    last = max(len(data) - width, 0)
    where = rng.randrange(3)
    if where == 0:
        return rng.randint(0, min(last, _REGION))
    if where == 1:
        return rng.randint(max(last - _REGION, 0), last)
    return rng.randint(0, last)


def _chunk(data: bytes, rng: random.Random) -> tuple[int, int]:
    """(start, stop) of a random chunk of 1-32 bytes."""
    start = _offset(data, rng)
    return start, min(start + rng.randint(1, 32), len(data))


# ------------------------------------------------------------------------ byte-level mutations
def flip_bits(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    spots = [_offset(data, rng) for _ in range(rng.randint(1, 4))]
    for i in spots:
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out), f"@{spots}"


def set_byte(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    spots = [_offset(data, rng) for _ in range(rng.randint(1, 3))]
    for i in spots:
        out[i] = rng.choice(INTERESTING_BYTES)
    return bytes(out), f"@{spots}"


def set_int(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    width = rng.choice((2, 4, 8))
    if len(data) < width:
        return flip_bits(data, rng)
    i, value, order = _offset(data, rng, width), rng.choice(EXTREME_INTS[width]), rng.choice(("little", "big"))
    return data[:i] + value.to_bytes(width, order) + data[i + width:], f"@{i}={value:#x}/{order}"


def huge_length(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Replace an int field whose value could be a size or an offset in this file by a huge one."""
    spots = list(range(min(len(data), 256))) + [rng.randrange(len(data)) for _ in range(64)]
    candidates = []
    for width, order in ((4, "little"), (8, "little"), (4, "big"), (2, "little")):
        for i in spots:
            if i + width <= len(data) and 0 < int.from_bytes(data[i:i + width], order) <= len(data):
                candidates.append((i, width, order))
    if not candidates:
        return set_int(data, rng)
    i, width, order = rng.choice(candidates)
    value = rng.choice(EXTREME_INTS[width])
    return data[:i] + value.to_bytes(width, order) + data[i + width:], f"@{i}={value:#x}/{order}"


def ascii_number(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    numbers = list(re.finditer(rb"\d+", data[:4096]))
    if not numbers:
        return huge_length(data, rng)
    match, text = rng.choice(numbers), rng.choice(HUGE_TEXT)
    return data[:match.start()] + text + data[match.end():], f"@{match.start()}={text.decode()}"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = _offset(data, rng)
    return data[:cut], f"@{cut}"


def swap_chunks(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    (a, b), (c, d) = sorted((_chunk(data, rng), _chunk(data, rng)))
    if b > c:  # overlapping: swap the first chunk with the bytes right after it
        c, d = b, min(b + (b - a), len(data))
    return data[:a] + data[c:d] + data[b:c] + data[a:b] + data[d:], f"@{a}:{b}<->{c}:{d}"


def duplicate_chunk(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    (a, b), at = _chunk(data, rng), _offset(data, rng)
    return data[:at] + data[a:b] + data[at:], f"{a}:{b}@{at}"


def delete_chunk(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    a, b = _chunk(data, rng)
    return data[:a] + data[b:], f"@{a}:{b}"


def insert_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at, n = _offset(data, rng), rng.randint(1, 16)
    return data[:at] + rng.randbytes(n) + data[at:], f"{n}@{at}"


def append(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    n = rng.choice((1, 7, 64, 4096))
    return data + (bytes(n) if rng.random() < 0.5 else rng.randbytes(n)), f"+{n}"


BYTE_MUTATIONS: dict[str, Mutation] = {
    "flip_bits": flip_bits, "set_byte": set_byte, "set_int": set_int, "huge_length": huge_length,
    "ascii_number": ascii_number, "truncate": truncate, "swap_chunks": swap_chunks,
    "duplicate_chunk": duplicate_chunk, "delete_chunk": delete_chunk,
    "insert_bytes": insert_bytes, "append": append,
}
# Structure-keeping mutations are likelier than cuts: a cut file is refused at the first check.
_WEIGHTS = {"flip_bits": 4, "set_byte": 3, "set_int": 3, "huge_length": 4, "ascii_number": 2,
            "truncate": 1, "swap_chunks": 2, "duplicate_chunk": 1, "delete_chunk": 1,
            "insert_bytes": 1, "append": 1}


def _byte_mutation(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return rng.randbytes(rng.randint(1, 8)), "random"
    name = rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()))[0]
    out, where = BYTE_MUTATIONS[name](data, rng)
    return out, name + where


# ------------------------------------------------------------------------ container-aware
def zip_member(data: bytes, rng: random.Random) -> tuple[bytes, str] | None:
    """Mutate one member's content and rebuild the zip (stored, correct CRCs); None if no zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(info, zf.read(info)) for info in zf.infolist()]
    except Exception:  # not a readable zip (any more): no structure to keep
        return None
    if not members:
        return None
    k = rng.randrange(len(members))
    content, where = _byte_mutation(members[k][1], rng)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for i, (info, old) in enumerate(members):
            # a ZipInfo with the old date_time: writestr(name) would stamp the current time
            new = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zf.writestr(new, content if i == k else old, compress_type=zipfile.ZIP_STORED)
    return out.getvalue(), f"[{members[k][0].filename}] {where}"


def gzip_payload(data: bytes, rng: random.Random) -> tuple[bytes, str] | None:
    """Mutate the decompressed payload and recompress (valid CRC and size); None if no gzip."""
    try:
        payload = gzip.decompress(data)
    except Exception:
        return None
    content, where = _byte_mutation(payload, rng)
    return gzip.compress(content, mtime=0), f"[payload] {where}"


def make_case(seed: bytes, run_seed: int, target: str, index: int) -> tuple[bytes, str]:
    """The bytes of case ``index`` of a run, and a description of what was changed."""
    rng = random.Random(f"{run_seed}/{target}/{index}")
    data, steps = seed, []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        container = None
        if rng.random() < 0.4:
            kind = zip_member if data[:2] == b"PK" else gzip_payload if data[:2] == b"\x1f\x8b" else None
            container = kind(data, rng) if kind else None
        data, where = container or _byte_mutation(data, rng)
        steps.append(where)
    return data, "; ".join(steps)
