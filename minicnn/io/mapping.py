"""Put the arrays of any weight file into a model: by architecture order and shape.

A reader (``minicnn.io.read_weights``) returns ``{name: array}`` in the file's own naming
and layout.  Names differ between libraries, but the *sequence of layers* of a network does
not: VGG-16 is 13 convolutions and 3 fully connected layers whoever trained it.  So we

1. list the model's tensors in architecture order -- per layer its ``weight``, ``bias`` and,
   for BatchNorm, ``running_mean``, ``running_var``, ``num_batches_tracked``;
2. list the file's arrays in the same order (as stored; or sorted by layer number for files
   that store names alphabetically, such as safetensors);
3. pair them one to one, convert layouts, and check every shape before copying anything.

When the file's names *are* the model's names (a PyTorch state dict, possibly under a prefix
such as ``module.`` or ``model.``) they are paired by name instead.

Layouts (``source_layout``):

============  ==========================  ===================  ==========================
layout        Conv2d weight               Linear weight        Flatten order
============  ==========================  ===================  ==========================
``"torch"``   (O, C, KH, KW)  "OIHW"      (out, in)            (C, H, W) channels first
``"keras"``   (KH, KW, C, O)  "HWIO"      (in, out)            (H, W, C) channels last
============  ==========================  ===================  ==========================

Keras names (``block1_conv1/kernel``, ``bn/gamma``, ``moving_mean``) or a Keras reader mean
``"keras"``; otherwise shapes decide (a (3, 3, 3, 64) first kernel can only be HWIO).

The silent bug
--------------
Keras flattens a (H, W, C) feature map in (h, w, c) order, minicnn flattens (C, H, W) in
(c, h, w) order.  The first Dense layer after the Flatten therefore sees the same numbers
in another order.  Its weight still has the right *shape*, so loading it without reordering
its rows raises no error -- the network just predicts garbage.  ``load_into`` permutes those
rows (``permute_dense_rows_nhwc_to_nchw``) for every file in the Keras layout.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from minicnn.io.keras_layouts import (
    conv_kernel_hwio_to_oihw, dense_in_out_to_out_in, permute_dense_rows_nhwc_to_nchw,
)

__all__ = ["load_into", "LoadReport", "WeightMismatchError"]

# Names each library gives the tensors of one layer -> the PyTorch name (the "role").
_ROLES = {"weight": "weight", "kernel": "weight", "gamma": "weight",
          "bias": "bias", "beta": "bias",
          "running_mean": "running_mean", "moving_mean": "running_mean",
          "running_var": "running_var", "moving_variance": "running_var",
          "num_batches_tracked": "num_batches_tracked"}
_KERAS_NAMES = {"kernel", "gamma", "beta", "moving_mean", "moving_variance"}
_ROLE_RANK = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3,
              "num_batches_tracked": 4}


class WeightMismatchError(ValueError):
    """The file does not fit the model.  ``problems`` has one line per tensor that does not
    fit; nothing was copied into the model."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass
class LoadReport:
    """What ``load_into`` did.

    Attributes:
        layout: ``"torch"`` or ``"keras"``: the layout the file was read in.
        matched_by: ``"name"`` (the file uses the model's names) or ``"order"``.
        loaded: ``(model key, file key, conversion)`` per copied tensor, e.g.
            ``("features.0.weight", "block1_conv1/kernel", "HWIO -> OIHW")``.
        ignored: file keys that were not used, e.g. the classifier of a full file loaded
            into an ``include_top=False`` model.
        kept: model keys left as they were (Keras files have no ``num_batches_tracked``).
    """

    layout: str
    matched_by: str
    loaded: list[tuple[str, str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors (matched by {self.matched_by}, "
                 f"{self.layout} layout)"]
        lines += [f"  {m} <- {f}" + (f"  [{c}]" if c else "") for m, f, c in self.loaded]
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} file arrays: {', '.join(self.ignored)}")
        if self.kept:
            lines.append(f"kept the model's own {', '.join(self.kept)}")
        return "\n".join(lines)


@dataclass(eq=False)
class _Slot:
    """One tensor of the model: ``features.0.weight`` of kind ``conv``, role ``weight``."""

    key: str
    role: str
    kind: str            # "conv", "dense", "norm" or "other": the kind of its layer
    shape: tuple[int, ...]


@dataclass(eq=False)                   # compared by identity (it holds an array)
class _Entry:
    """One array of the file, with its name split into layer and role."""

    name: str
    layer: str
    leaf: str
    role: str | None     # None: a name we do not recognise (ONNX "onnx::Conv_12", "vars/0")
    array: np.ndarray


# ---------------------------------------------------------------------------- entry point
def load_into(model: Any, arrays: Any, *, source_layout: str = "auto",
              flatten_shape: tuple[int, int, int] | None = None) -> LoadReport:
    """Copy a weight file's arrays into ``model``, whatever the file's naming and layout.

    Args:
        model: a ``minicnn.nn.Module``.
        arrays: ``{name: array}`` from any reader, or the ``WeightFile`` that
            ``minicnn.io.read_weights`` returns (its format then picks the layout).
        source_layout: ``"auto"``, ``"torch"`` or ``"keras"`` (see the module docstring).
        flatten_shape: (C, H, W) of the feature map flattened before the first Linear layer,
            needed only for Keras files when it is not square; by default C is the last
            convolution's channel count and H = W = sqrt(in_features / C).

    Returns:
        A ``LoadReport``: what was loaded from where, what was ignored or kept.

    Raises:
        WeightMismatchError: when any tensor does not fit; the message lists every one
            (expected and found shape) and nothing is copied.
        ValueError: for an unknown ``source_layout``.

    Extra trailing fully connected layers in the file are ignored (and reported), so a
    file with a classifier loads into a model built with ``include_top=False``.

    Example:
        >>> model = minicnn.models.vgg16(include_top=False)
        >>> report = load_into(model, read_weights("vgg16_weights_tf_dim_ordering_tf_kernels.h5"))
        >>> report.loaded[0]
        ('features.0.weight', 'block1_conv1/kernel', 'HWIO -> OIHW')
        >>> report.ignored          # the classifier, which this model does not have
        ['fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias', 'predictions/kernel',
         'predictions/bias']
    """
    if source_layout not in ("auto", "torch", "keras"):
        raise ValueError(f"load_into: source_layout must be 'auto', 'torch' or 'keras', "
                         f"got {source_layout!r}")
    file_format = getattr(arrays, "format", None)
    source = getattr(arrays, "path", "") or "the weight file"
    raw = getattr(arrays, "arrays", arrays)
    if not isinstance(raw, Mapping):
        raise TypeError(f"load_into: expected a dict of arrays or a WeightFile, got "
                        f"{type(arrays).__name__}")
    slots = _model_slots(model)
    entries = [_entry(name, _as_numpy(value)) for name, value in raw.items()]

    by_name = _match_by_name(slots, entries)
    if by_name is not None and source_layout != "keras":
        pairs, extra = by_name
        report = LoadReport("torch", "name")
    else:
        # Order matching pairs weights only: integer arrays other than num_batches_tracked
        # (e.g. the shape constants of an ONNX Reshape) are not weights of any layer.
        weights = [e for e in entries
                   if e.array.dtype.kind == "f" or e.role == "num_batches_tracked"]
        layout = source_layout
        if layout == "auto":
            layout = _guess_layout(slots, weights, file_format)
        pairs, extra = _match_by_order(slots, weights, layout)
        report = LoadReport(layout, "order")
        report.ignored += [e.name for e in entries if e not in weights]

    state, problems = {}, []
    flat_key, flat_chw = _flatten_site(slots, report.layout, flatten_shape)
    for slot, entry in pairs:
        if entry is None:
            if slot.role == "num_batches_tracked":
                report.kept.append(slot.key)
            else:
                problems.append(f"{slot.key}: expected {_expected(slot, report.layout)}, found "
                                "nothing (the file has fewer arrays than the model has tensors)")
            continue
        value, conversion = _convert(slot, entry.array, report.layout,
                                     flat_chw if slot.key == flat_key else None)
        if value is None:
            problems.append(f"{slot.key}: expected {_expected(slot, report.layout)}, found "
                            f"{entry.name!r} {entry.array.shape}")
            continue
        state[slot.key] = value
        report.loaded.append((slot.key, entry.name, conversion))
    for entry in extra:
        if entry.array.ndim <= 2 and _only_head_after(slots):
            report.ignored.append(entry.name)
        else:
            problems.append(f"{entry.name!r} {entry.array.shape}: the model has no tensor "
                            "left for it (the file has more layers than the model)")
    if problems:
        raise WeightMismatchError(_mismatch_message(model, source, report, problems, slots,
                                                    entries), problems)
    model.load_state_dict(state, strict=False)
    return report


# ---------------------------------------------------------------------------- both sides
def _model_slots(model: Any) -> list[_Slot]:
    """The model's saved tensors in architecture order, each tagged with its layer kind."""
    slots = []
    for prefix, module in model.named_modules():
        own = dict(module.named_parameters(recurse=False))
        skip = getattr(module, "_non_persistent_buffers", set())
        own.update((n, b) for n, b in module.named_buffers(recurse=False) if n not in skip)
        if not own:
            continue
        weight = own.get("weight")
        if "running_mean" in own:
            kind = "norm"
        elif weight is not None and weight.ndim == 4:
            kind = "conv"
        elif weight is not None and weight.ndim == 2:
            kind = "dense"
        else:
            kind = "other"
        for name, tensor in own.items():
            key = f"{prefix}.{name}" if prefix else name
            slots.append(_Slot(key, name, kind, tuple(tensor.shape)))
    return slots


def _entry(name: str, array: np.ndarray) -> _Entry:
    """Split 'block1_conv1/kernel:0' into layer 'block1_conv1' and leaf 'kernel'."""
    clean = re.sub(r":\d+$", "", name)
    split = re.fullmatch(r"(.*)[./]([^./]*)", clean)               # at the last '.' or '/'
    layer, leaf = split.groups() if split else ("", clean)
    return _Entry(name, layer, leaf, _ROLES.get(leaf), array)


def _as_numpy(value: Any) -> np.ndarray:
    """An array from a NumPy array, a minicnn Tensor or a torch tensor (``.numpy()``)."""
    if hasattr(value, "detach"):
        value = value.detach()                     # torch refuses .numpy() on grad tensors
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _natural(text: str) -> list[Any]:
    """Sort key that puts 'features.2' before 'features.10' (numbers compared as numbers)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", text) if part]


# ---------------------------------------------------------------------------- matching
def _match_by_name(slots: list[_Slot], entries: list[_Entry]):
    """Pair by name when the file holds every model key, possibly under one prefix."""
    names = {e.name: e for e in entries}
    first = slots[0].key if slots else None
    prefixes = {e.name[: len(e.name) - len(first)] for e in entries
                if first and e.name.endswith(first)
                and (e.name == first or e.name[-len(first) - 1] in "./")}
    for prefix in sorted(prefixes, key=len):
        if all(prefix + s.key in names or s.role == "num_batches_tracked" for s in slots):
            used = {prefix + s.key for s in slots}
            pairs = [(s, names.get(prefix + s.key)) for s in slots]
            return pairs, [e for e in entries if e.name not in used]
    return None


def _match_by_order(slots: list[_Slot], entries: list[_Entry], layout: str):
    """Pair the i-th model tensor with the i-th file array, in the order that fits best.

    Files without ``num_batches_tracked`` (Keras, ONNX) skip that model slot.  Two orders
    are tried: the file's own, and layer names sorted numerically ('features.2' <
    'features.10') with weight before bias.
    """
    file_has_counts = any(e.role == "num_batches_tracked" for e in entries)
    wanted = [s for s in slots if file_has_counts or s.role != "num_batches_tracked"]
    natural = sorted(entries, key=lambda e: (_natural(e.layer), _ROLE_RANK.get(e.role, 9),
                                             _natural(e.leaf)))
    best = None
    for order in (entries, natural):
        fits = sum(_convert(s, e.array, layout, None, shape_only=True)
                   for s, e in zip(wanted, order))
        if best is None or fits > best[0]:
            best = (fits, order)
    order = best[1]
    pairs = [(s, order[i] if i < len(order) else None) for i, s in enumerate(wanted)]
    pairs += [(s, None) for s in slots if s.role == "num_batches_tracked" and not file_has_counts]
    return pairs, list(order[len(wanted):])


def _guess_layout(slots: list[_Slot], entries: list[_Entry], file_format: str | None) -> str:
    """'keras' for Keras files and names; else let unambiguous shapes vote; else 'torch'."""
    if file_format in ("keras_h5", "keras") or any(e.leaf in _KERAS_NAMES for e in entries):
        return "keras"
    learned = [s for s in slots if s.role != "num_batches_tracked"]
    votes = {"torch": 0, "keras": 0}
    for slot, entry in zip(learned, [e for e in entries if e.role != "num_batches_tracked"]):
        fits = {lay: _convert(slot, entry.array, lay, None, shape_only=True) for lay in votes}
        if fits["torch"] != fits["keras"]:
            votes["torch" if fits["torch"] else "keras"] += 1
    return "keras" if votes["keras"] > votes["torch"] else "torch"


def _only_head_after(slots: list[_Slot]) -> bool:
    """Extra file arrays are a classifier we may drop unless the model itself has one."""
    return not any(s.kind == "dense" for s in slots)


# ---------------------------------------------------------------------------- layouts
def _flatten_site(slots: list[_Slot], layout: str,
                  flatten_shape: tuple[int, int, int] | None) -> tuple[str | None, Any]:
    """(key of the first Linear weight after a conv, (C, H, W) it flattens) for Keras files."""
    if layout != "keras":
        return None, None
    last_conv = None
    for slot in slots:
        if slot.kind == "conv" and slot.role == "weight":
            last_conv = slot
        elif slot.kind == "dense" and slot.role == "weight" and last_conv is not None:
            n_in = slot.shape[1]
            if flatten_shape is not None:
                return slot.key, tuple(flatten_shape)
            C = last_conv.shape[0]
            side = math.isqrt(n_in // C) if n_in % C == 0 else 0
            if side * side * C != n_in:
                raise ValueError(
                    f"load_into: cannot tell the (C, H, W) flattened before {slot.key}: "
                    f"in_features {n_in} is not C * H * H with C = {C} channels of the last "
                    f"convolution. Pass flatten_shape=(C, H, W) with C*H*W = {n_in}")
            return slot.key, (C, side, side)
    return None, None


def _convert(slot: _Slot, a: np.ndarray, layout: str, flat_chw: tuple[int, int, int] | None,
             shape_only: bool = False) -> Any:
    """The file array ``a`` in the model's layout, and the conversion applied.

    ``flat_chw`` is (C, H, W) when ``slot`` is the first Linear weight after a Keras Flatten.
    Returns ``(array, description)``, or ``(None, "")`` when ``a`` does not fit ``slot``.
    With ``shape_only`` returns just whether it fits (used to choose orders and layouts).
    """
    value, how = None, ""
    if slot.kind == "conv" and slot.role == "weight" and a.ndim == 4:
        O, C, KH, KW = slot.shape
        if layout == "torch" and a.shape == slot.shape:
            value = a
        elif layout == "keras" and a.shape == (KH, KW, C, O):
            value, how = (a if shape_only else conv_kernel_hwio_to_oihw(a)), "HWIO -> OIHW"
    elif slot.kind == "dense" and slot.role == "weight":
        out_f, in_f = slot.shape
        if layout == "torch" and a.shape == slot.shape:
            value = a
        elif layout == "torch" and a.ndim == 4 and a.shape[0] == out_f \
                and math.prod(a.shape[1:]) == in_f:
            # A conv over the whole (C, H, W) map is a Linear layer on its (c, h, w) flatten.
            value, how = a.reshape(out_f, in_f), "(O, C, H, W) -> (O, C*H*W)"   # (out, in)
        elif layout == "keras" and a.shape == (in_f, out_f):
            value, how = a, "(in, out) -> (out, in)"
            if flat_chw is not None and not shape_only:
                C, H, W = flat_chw
                if C * H * W != in_f:
                    raise ValueError(f"load_into: flatten_shape {flat_chw} has {C * H * W} "
                                     f"values but {slot.key} takes {in_f} inputs")
                value = permute_dense_rows_nhwc_to_nchw(a, C, H, W)      # rows (h,w,c)->(c,h,w)
                how = f"rows (H, W, C) -> (C, H, W) for C, H, W = {C}, {H}, {W}; " + how
            if not shape_only:
                value = dense_in_out_to_out_in(value)                    # (out, in)
    elif slot.role == "num_batches_tracked":
        if a.size == 1:
            value = a.reshape(slot.shape)
    elif a.shape == slot.shape:
        value = a
    if shape_only:
        return value is not None
    return value, how


def _expected(slot: _Slot, layout: str) -> str:
    if layout == "keras" and slot.kind == "conv" and slot.role == "weight":
        O, C, KH, KW = slot.shape
        return f"HWIO {(KH, KW, C, O)} (for OIHW {slot.shape})"
    if layout == "keras" and slot.kind == "dense" and slot.role == "weight":
        return f"(in, out) {slot.shape[::-1]} (for (out, in) {slot.shape})"
    return str(slot.shape)


def _mismatch_message(model: Any, source: str, report: LoadReport, problems: list[str],
                      slots: list[_Slot], entries: list[_Entry]) -> str:
    n_model = sum(s.role != "num_batches_tracked" for s in slots)
    n_file = sum(e.role != "num_batches_tracked" for e in entries)
    lines = [f"cannot load {source} into {type(model).__name__}: {len(problems)} tensor(s) "
             f"do not fit (paired by {report.matched_by}, {report.layout} layout; the model "
             f"has {n_model} learned tensors, the file {n_file} arrays):"]
    lines += [f"  {p}" for p in problems]
    lines.append("Nothing was loaded. A different num_classes shows up as the last layer only: "
                 "build the model with the file's num_classes and replace the head, or use "
                 "include_top=False. Many mismatches mean a different architecture "
                 "(e.g. a vgg11 file for a vgg16 model, or _bn vs plain).")
    return "\n".join(lines)
