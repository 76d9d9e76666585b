"""Download a file safely: mirrors, size and SHA-256 checks, atomic rename, resume.

A download that is interrupted or corrupted must never leave behind a file that *looks*
complete, because the next run would trust it. So :func:`download_url`

1. reuses ``dest`` without touching the network when it already exists and its SHA-256 is
   right (a wrong hash is an error: the file is not deleted, you are told to delete it);
2. otherwise tries each URL in turn (official site first, mirrors next), streaming the body
   into ``<dest>.part`` in the same folder;
3. checks the byte count against ``Content-Length`` and the SHA-256 against the expected
   value, and only then renames ``<dest>.part`` to ``dest`` with :func:`os.replace`, which is
   atomic on one file system: ``dest`` is either absent or complete.

Resume: a ``.part`` left by an interrupted download is continued with an HTTP ``Range``
request. A server that ignores ``Range`` answers ``200`` with the whole file and the download
restarts from byte 0. A ``.part`` whose hash turns out wrong is deleted, so the next attempt
starts clean.

When every URL fails (no network, a firewall, a dead mirror), :class:`DownloadError` says
which file to fetch by hand, from where, and where to put it.

Files live under :func:`cache_dir`: ``$MINICNN_HOME``, else ``$XDG_CACHE_HOME/minicnn``,
else ``~/.cache/minicnn``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from minicnn.progress import progress as progress_bar

__all__ = ["DownloadError", "cache_dir", "download_url", "sha256_file"]

USER_AGENT = "minicnn-downloader/0.1 (+https://pypi.org/project/minicnn/)"
CHUNK_BYTES = 1 << 16        # 64 KiB per read(): small enough for a smooth progress bar


class DownloadError(OSError):
    """No URL produced a complete file with the right SHA-256.

    Attributes:
        dest: where the file was meant to go.
        urls: the URLs that were tried, in order.
        reasons: one line per URL saying why it failed.
    """

    def __init__(self, message: str, dest: Path, urls: list[str], reasons: list[str]):
        super().__init__(message)
        self.dest = dest
        self.urls = urls
        self.reasons = reasons


def cache_dir(*parts: str) -> Path:
    """The folder minicnn keeps downloaded data in (not created here).

    ``$MINICNN_HOME`` if set, else ``$XDG_CACHE_HOME/minicnn``, else ``~/.cache/minicnn``;
    ``parts`` are appended: ``cache_dir("mnist") -> ~/.cache/minicnn/mnist``.
    """
    if os.environ.get("MINICNN_HOME"):
        root = Path(os.environ["MINICNN_HOME"]).expanduser()
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minicnn"
    else:
        root = Path.home() / ".cache" / "minicnn"
    return root.joinpath(*parts)


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(
    urls: str | list[str],
    dest: str | os.PathLike[str],
    sha256: str | None,
    *,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``dest`` from the first URL that works; return ``dest`` as a Path.

    Args:
        urls: one URL or a list tried in order (official first, then mirrors); http(s) only.
        dest: final path of the file; its folder is created if needed.
        sha256: expected hex SHA-256, or None to skip the check (then only the size is
            checked, against ``Content-Length``).
        progress: draw a progress bar on stderr (see :mod:`minicnn.progress`).
        timeout: seconds a connect or a single read may block before the URL counts as
            failed.

    Raises:
        DownloadError: every URL failed; the message lists why and what to do by hand.
        ValueError: ``dest`` exists with the wrong SHA-256, or a URL is not http(s).
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError("download_url: no URL given")
    for url in url_list:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"download_url: only http:// and https:// URLs are supported, "
                             f"got {url!r}")
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None

    if dest.exists():
        if expected is None:
            return dest
        actual = sha256_file(dest)
        if actual == expected:
            return dest
        raise ValueError(
            f"{dest} exists but its SHA-256 is {actual}, expected {expected}. It is corrupted or "
            f"a different version; delete it to download it again.")

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    reasons: list[str] = []
    for url in url_list:
        try:
            _fetch(url, part, timeout=timeout, show_progress=progress, desc=dest.name)
        except (OSError, http.client.HTTPException) as err:     # URLError is an OSError
            reasons.append(f"{url}: {_describe(err)}")
            continue
        if expected is not None:
            actual = sha256_file(part)
            if actual != expected:
                part.unlink()          # never keep bytes we know are wrong
                reasons.append(f"{url}: SHA-256 mismatch: expected {expected}, got {actual} "
                               f"(the partial file was deleted)")
                continue
        os.replace(part, dest)         # atomic: dest appears complete or not at all
        return dest

    raise DownloadError(_manual_instructions(dest, url_list, expected, reasons),
                        dest, url_list, reasons)


def _fetch(url: str, part: Path, *, timeout: float, show_progress: bool, desc: str) -> None:
    """Stream ``url`` into ``part``, continuing an existing ``part`` with a Range request.

    Raises OSError when the connection fails or fewer bytes arrive than announced.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:     # 416: Range starts past the end of the file,
            raise                           # so the .part is stale: restart from byte 0
        part.unlink()
        have = 0
        request.remove_header("Range")
        response = urllib.request.urlopen(request, timeout=timeout)

    with response:
        # 206 Partial Content: the server continues at byte `have`; 200: the whole file.
        resuming = have > 0 and response.status == 206
        if resuming:
            content_range = response.headers.get("Content-Range", "")   # "bytes 100-999/1000"
            if not content_range.startswith(f"bytes {have}-"):
                part.unlink()
                raise OSError(f"asked for bytes {have}- but the server sent "
                              f"{content_range or 'no Content-Range'}; deleted {part.name}")
        start = have if resuming else 0
        length = response.headers.get("Content-Length", "")
        expected_total = start + int(length) if length.isdigit() else None   # None: unknown
        received = start
        with open(part, "ab" if resuming else "wb") as f, progress_bar(
                total=expected_total, desc=desc, unit="B", unit_scale=True,
                disable=not show_progress) as bar:
            bar.update(start)
            while chunk := response.read(CHUNK_BYTES):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())        # the bytes are on disk before the rename
    if expected_total is not None and received != expected_total:
        raise OSError(f"connection closed early: got {received} of {expected_total} bytes "
                      f"(kept {part.name} to resume)")


def _describe(err: BaseException) -> str:
    """A one-line reason: 'HTTP 404 Not Found', 'connection refused', ..."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    return str(err) or type(err).__name__


def _manual_instructions(dest: Path, urls: list[str], sha256: str | None,
                         reasons: list[str]) -> str:
    lines = [f"could not download {dest.name!r}:"]
    lines += [f"  {reason}" for reason in reasons]
    lines += ["If this machine is offline, download the file by hand from one of",
              *[f"  {url}" for url in urls],
              f"and place it as {dest.name!r} in the folder",
              f"  {dest.parent}",
              f"(full path {dest})."]
    if sha256:
        lines.append(f"Its SHA-256 must be {sha256} (check with: sha256sum {dest.name}).")
    return "\n".join(lines)
