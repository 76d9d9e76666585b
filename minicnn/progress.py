"""A tiny progress bar for downloads and training loops.

``progress(...)`` returns a :class:`Progress` that draws

* a tqdm bar when tqdm is installed (``pip install minicnn[progress]``),
* otherwise a plain text bar on stderr, redrawn at most ten times a second,

and stays quiet when nobody is watching: when stderr is not a terminal (a log file, a pipe,
pytest's capture) or when the environment variable ``CI`` is set, nothing is drawn while
the work runs and a single summary line is written when it ends. ``disable=True`` silences
it completely.

Examples:
    >>> with progress(total=3, desc="epoch 1", unit="batch") as bar:
    ...     for loss in (0.9, 0.5, 0.3):
    ...         bar.update(1)
    ...         bar.set_postfix(loss=loss)

    >>> for batch in progress(loader, desc="train"):   # wraps an iterable, like tqdm
    ...     ...
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

_REDRAW_SECONDS = 0.1     # the text bar redraws at most this often
_BAR_WIDTH = 25           # characters inside |...|


def progress(
    iterable: Iterable[Any] | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    unit_scale: bool = False,
    *,
    disable: bool = False,
    file: TextIO | None = None,
) -> "Progress":
    """Return a :class:`Progress` (see the module docstring for how it draws).

    Args:
        iterable: optional iterable to wrap; iterating the bar yields its items and counts them.
        total: expected number of units (taken from ``len(iterable)`` when omitted).
        desc: label written before the bar, e.g. ``"mnist train-images"``.
        unit: name of one unit (``"it"``, ``"batch"``, ``"B"`` for bytes).
        unit_scale: print counts with SI prefixes (``12.3MB`` rather than ``12345678B``).
        disable: draw nothing at all, not even the final line.
        file: stream to write to (default ``sys.stderr``).
    """
    return Progress(iterable, total, desc, unit, unit_scale, disable=disable, file=file)


def _quiet(stream: TextIO) -> bool:
    """No live bar in CI or when the stream is not an interactive terminal."""
    if os.environ.get("CI"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:          # isatty() on a closed stream
        return True


def _load_tqdm() -> Any:
    """Return ``tqdm.tqdm`` or None: tqdm is optional, the text bar is the fallback."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def format_count(n: float, unit_scale: bool) -> str:
    """``1234567 -> '1.23M'`` with ``unit_scale``, else ``'1234567'``."""
    if not unit_scale:
        return f"{n:g}" if isinstance(n, float) else str(n)
    for prefix in ("", "k", "M", "G", "T"):
        if abs(n) < 999.5:
            return f"{n:.3g}{prefix}"
        n /= 1000.0
    return f"{n:.3g}P"


def format_seconds(seconds: float) -> str:
    """``75.2 -> '01:15'``, ``3725 -> '1:02:05'``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """A progress bar: ``update(n)``, ``set_postfix(**values)``, ``close()``.

    Also a context manager (closes on exit) and, when built around an iterable, an iterator.

    Attributes:
        n: units counted so far.
        total: expected units, or None when unknown.
        mode: ``"tqdm"``, ``"text"`` (live text bar), ``"summary"`` (one line at the end)
            or ``"off"``.
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        unit_scale: bool = False,
        *,
        disable: bool = False,
        file: TextIO | None = None,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.unit_scale = unit_scale
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self._file = file if file is not None else sys.stderr
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._closed = False
        self._tqdm: Any = None

        if disable:
            self.mode = "off"
        elif _quiet(self._file):
            self.mode = "summary"
        else:
            tqdm = _load_tqdm()
            if tqdm is not None:
                self.mode = "tqdm"
                self._tqdm = tqdm(total=total, desc=desc or None, unit=unit,
                                  unit_scale=unit_scale, file=self._file, leave=True)
            else:
                self.mode = "text"

    # ---- counting -------------------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        """Count ``n`` more units and redraw if it is time to."""
        self.n += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        elif self.mode == "text":
            now = time.perf_counter()
            if now - self._last_draw >= _REDRAW_SECONDS:
                self._last_draw = now
                self._write("\r" + self.line())

    def set_postfix(self, **values: Any) -> None:
        """Show ``key=value`` pairs after the bar, e.g. ``set_postfix(loss=0.31, acc=0.9)``."""
        self.postfix = dict(values)
        if self._tqdm is not None:
            self._tqdm.set_postfix(values)

    def close(self) -> None:
        """Finish the bar: final redraw and newline (text), or the one summary line."""
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.mode == "text":
            self._write("\r" + self.line() + "\n")
        elif self.mode == "summary":
            self._write(self.line() + "\n")

    # ---- drawing --------------------------------------------------------------------------
    def line(self) -> str:
        """The text of the bar as it would be drawn now.

        ``desc:  40%|##########               | 4.00M/10.0MB [00:02<00:03, 2.00MB/s] loss=0.3``
        """
        elapsed = time.perf_counter() - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        count = format_count(self.n, self.unit_scale)
        prefix = f"{self.desc}: " if self.desc else ""
        if self.total:
            fraction = min(self.n / self.total, 1.0)
            filled = int(fraction * _BAR_WIDTH)
            bar = "#" * filled + " " * (_BAR_WIDTH - filled)
            total = format_count(self.total, self.unit_scale)
            remaining = (self.total - self.n) / rate if rate > 0 else 0.0
            text = (f"{prefix}{fraction:4.0%}|{bar}| {count}/{total}{self.unit} "
                    f"[{format_seconds(elapsed)}<{format_seconds(max(remaining, 0.0))}, ")
        else:
            text = f"{prefix}{count}{self.unit} [{format_seconds(elapsed)}, "
        text += f"{format_count(rate, True) if self.unit_scale else f'{rate:.2f}'}{self.unit}/s]"
        if self.postfix:
            text += " " + ", ".join(f"{k}={_short(v)}" for k, v in self.postfix.items())
        return text

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()

    # ---- protocols ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("progress(): nothing to iterate; pass an iterable, "
                            "e.g. progress(loader), or call update(n) yourself")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("progress(): the total is unknown, so the bar has no length")
        return self.total

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _short(value: Any) -> str:
    """Floats with 4 significant digits, everything else as str()."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
