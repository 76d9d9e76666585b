"""Anomaly mode: find the first operation that produced NaN or Inf.

A NaN in the loss is a symptom; the cause is one op, often far earlier (a ``log`` of 0,
an ``exp`` of a large logit, a division by a zero variance).  Inside
``with minicnn.detect_anomaly():`` every op checks its output as it runs forward, and
every backward checks the gradients it returns, so the error names the culprit::

    AnomalyError: Log.forward produced 3 non-finite values (3 -inf) out of 8.
      input 0: shape (8,), float32, min 0, max 0.93, mean 0.41, 3 zeros
      the op was created at: train.py:42 in loss_fn

Checking costs a pass over every array, so it is off by default.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Sequence

import numpy as np

from .backend import get_array_module

__all__ = ["detect_anomaly", "is_anomaly_enabled", "AnomalyError"]

_state = threading.local()


class AnomalyError(FloatingPointError):
    """An op produced NaN or Inf while anomaly detection was on."""


def is_anomaly_enabled() -> bool:
    return getattr(_state, "enabled", False)


class detect_anomaly:
    """Context manager: raise ``AnomalyError`` at the first op whose forward or backward
    produces NaN or Inf, with statistics of the op's inputs and where it was created."""

    def __enter__(self) -> detect_anomaly:
        self.previous = is_anomaly_enabled()
        _state.enabled = True
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.previous


def creation_site() -> list[traceback.FrameSummary]:
    """Where the current op is being created (user frames only), kept for backward errors."""
    frames = traceback.extract_stack()[:-3]
    return [f for f in frames if "/minicnn/" not in f.filename.replace("\\", "/")][-3:]


def describe(array: Any) -> str:
    """One line of statistics: shape, dtype, range, mean and counts of NaN / Inf / zeros."""
    a = np.asarray(array.get() if hasattr(array, "get") else array)
    text = f"shape {a.shape}, {a.dtype}"
    if a.dtype.kind not in "fc" or a.size == 0:
        return text
    finite = a[np.isfinite(a)]
    if finite.size:
        text += f", min {finite.min():.4g}, max {finite.max():.4g}, mean {finite.mean():.4g}"
    counts = {"NaN": int(np.isnan(a).sum()), "+inf": int(np.isposinf(a).sum()),
              "-inf": int(np.isneginf(a).sum()), "zeros": int((a == 0).sum())}
    extra = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    return text + (f", {extra}" if extra else "")


def _bad_count(array: Any) -> tuple[int, str]:
    if getattr(array, "dtype", None) is None or array.dtype.kind not in "fc":
        return 0, ""
    bad = ~get_array_module(array).isfinite(array)
    n = int(bad.sum())
    if not n:
        return 0, ""
    nan = int((array != array).sum())
    return n, f"{nan} NaN, {n - nan} inf" if nan and n - nan else ("NaN" if nan else "inf")


def check_forward(op: str, inputs: Sequence[Any], output: Any) -> None:
    """Raise if ``output`` holds NaN/Inf; say whether the inputs already did."""
    n, kind = _bad_count(output)
    if not n:
        return
    lines = [f"{op}.forward produced {n} non-finite values ({kind}) out of {output.size}."]
    lines += [f"  input {i}: {describe(x)}" for i, x in enumerate(inputs)]
    if any(_bad_count(x)[0] for x in inputs):
        lines.append("  an input was already non-finite: the problem started earlier (check your data)")
    lines += _site_lines(creation_site())
    raise AnomalyError("\n".join(lines))


def check_backward(op: str, fn: Any, grad_output: Any, grads: Sequence[Any]) -> None:
    """Raise if a gradient returned by ``op``'s backward holds NaN/Inf."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        n, kind = _bad_count(g)
        if not n:
            continue
        lines = [f"{op}.backward produced {n} non-finite values ({kind}) in the gradient of input {i}."]
        lines.append(f"  incoming gradient: {describe(grad_output)}")
        lines += [f"  input {j}: {describe(t.data)}" for j, t in enumerate(fn.inputs)]
        lines += _site_lines(getattr(fn, "created_at", []))
        raise AnomalyError("\n".join(lines))


def _site_lines(frames: list[traceback.FrameSummary]) -> list[str]:
    if not frames:
        return []
    f = frames[-1]
    return [f"  the op was created at: {f.filename}:{f.lineno} in {f.name}"]
