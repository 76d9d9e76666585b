"""Read Keras HDF5 weight files with h5py (no TensorFlow, no Keras).

Keras 2 layout (``model.save_weights("w.h5")``, the Keras Applications files such as
``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``)::

    /                          attrs: layer_names = [b"input_1", b"block1_conv1", ...]
    /block1_conv1              attrs: weight_names = [b"block1_conv1/kernel:0",
                                                      b"block1_conv1/bias:0"]
    /block1_conv1/block1_conv1/kernel:0    dataset (3, 3, 3, 64)   HWIO
    /block1_conv1/block1_conv1/bias:0      dataset (64,)
    /block1_pool               attrs: weight_names = []   (layers without weights too)

  A full-model file (``model.save("m.h5")``) has the same tree under
  ``/model_weights`` and a JSON ``model_config`` attribute at the root. Attribute
  lists longer than 64 KB are split into ``layer_names0``, ``layer_names1``, ...
  Keras 1 files name weights ``<layer>_W_1:0`` / ``<layer>_b_1:0``.

Keras 3 layout (``model.save_weights("w.weights.h5")``, and ``model.weights.h5``
inside a ``.keras`` zip)::

    /layers/block1_conv1/vars/0    kernel (HWIO)
    /layers/block1_conv1/vars/1    bias
    /layers/vgg16/layers/block1_conv1/vars/0     (nested models)

  Variables are numbered, not named, and the file stores no layer order. We name
  them from their shapes when that is unambiguous (``kernel, bias``: an N-d array and
  a vector of its last dimension; ``gamma, beta, moving_mean, moving_variance``: four
  vectors of one length), keep the index otherwise (``layer/0``, ``layer/1``), and
  order layers by where their data sits in the file (Keras writes layers in model
  order, so data offsets grow in layer order).

Result names are ``"<layer>/<weight>"`` (``"block1_conv1/kernel"``); ``meta`` records
the layer order, each weight's original name and its layout (``"HWIO"``,
``"(in, out)"``, ...) for the mapper that converts to minicnn's layouts (see
``keras_layouts.py``).

Trust: the HDF5 structure itself is parsed by libhdf5 (through h5py). We refuse
datasets that read other files (external / virtual), that are not plain numbers, or
whose size the file cannot hold, before reading them. But a corrupted HDF5 file can
still trip libhdf5 itself: fuzzing found damaged string heaps that make libhdf5 2.0 loop
forever while reading an attribute, and a loop in C cannot be interrupted from Python.
We check those heaps first (``hdf5_check.py``), which closes the hang we know of; for a
file you did not make, also pass ``timeout=`` (seconds): the file is then read in a child
process that is killed when the time is up (``isolated.py``). Or convert it once to
``.npz``.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
from typing import IO, Any

import numpy as np

from minicnn.io._fileio import (
    MAX_DEFLATE_RATIO, OutputBudget, open_zip, read_zip_member, stream_size,
)
from minicnn.io.errors import WeightFileError, reading, source_name
from minicnn.io.hdf5_check import HDF5_SIGNATURE, check_hdf5_file
from minicnn.io.keras_layouts import (  # re-exported: the helpers belong with the reader
    conv_kernel_hwio_to_oihw, dense_in_out_to_out_in, permute_dense_rows_nhwc_to_nchw,
)
from minicnn.io.weight_file import WeightFile

__all__ = ["read_keras_h5", "read_keras_archive", "HDF5_SIGNATURE", "conv_kernel_hwio_to_oihw",
           "dense_in_out_to_out_in", "permute_dense_rows_nhwc_to_nchw"]

_KERAS3_ROOTS = ("layers", "_layer_checkpoint_dependencies")


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("reading Keras .h5 files needs h5py: pip install minicnn[io]") from exc
    return h5py


def read_keras_h5(source: str | os.PathLike[str] | IO[bytes], name: str | None = None,
                  layer_classes: dict[str, str] | None = None, *,
                  timeout: float | None = None) -> WeightFile:
    """Read a Keras 2 ``.h5`` or Keras 3 ``.weights.h5`` file into named arrays.

    Args:
        source: path or binary file object of the HDF5 file.
        name: name for messages (defaults to the path).
        layer_classes: optional ``{layer name: Keras class}`` (e.g. from a ``.keras``
            archive's config.json); used to tell e.g. Conv2DTranspose kernels (HWOI).
        timeout: for untrusted files: read in a child process and give up after this
            many seconds (libhdf5 can hang on a corrupted file; see the module doc).
            ``None`` reads in this process.

    Returns:
        ``WeightFile(format="keras_h5")``; ``meta`` has ``variant`` ("keras2",
        "keras2_model" or "keras3"), ``layers`` (ordered, with their weight keys),
        ``layouts`` and ``original_names`` per weight key.

    Raises:
        WeightFileError: a malformed or non-Keras file, or (with ``timeout``) a read that
            did not finish in time.
    """
    if timeout is not None:
        return _read_keras_h5_isolated(source, name, layer_classes, timeout)
    h5py = _import_h5py()
    name = name or source_name(source)
    if isinstance(source, (str, os.PathLike)):
        size = os.path.getsize(source)
    else:
        size = stream_size(source)
    if size == 0:
        raise WeightFileError(f"{name}: empty file; expected a Keras HDF5 weight file")
    with reading(name, "Keras HDF5 weight file"):
        check_hdf5_file(source, name)  # a damaged string heap would hang libhdf5
        budget = OutputBudget(size, name)
        with h5py.File(source, "r") as f:
            classes = dict(layer_classes or {})
            if "model_config" in f.attrs:
                classes.update(_layer_classes_from_config(_text(f.attrs["model_config"])))
            meta = {"keras_version": _text(f.attrs.get("keras_version", "")),
                    "backend": _text(f.attrs.get("backend", ""))}
            if _has_list_attr(f, "layer_names"):
                meta["variant"] = "keras2"
                arrays, info = _read_keras2(h5py, f, budget, name, classes)
            elif "model_weights" in f and _has_list_attr(f["model_weights"], "layer_names"):
                meta["variant"] = "keras2_model"
                arrays, info = _read_keras2(h5py, f["model_weights"], budget, name, classes)
            elif any(root in f for root in _KERAS3_ROOTS):
                meta["variant"] = "keras3"
                arrays, info = _read_keras3(h5py, f, budget, name, classes)
            else:
                raise WeightFileError(
                    f"{name}: HDF5 file without a Keras weight layout; expected a root "
                    "attribute 'layer_names' (Keras 2), a group 'model_weights' (Keras 2 "
                    f"full model) or a group 'layers' (Keras 3), found {sorted(f)[:10]}")
    meta.update(info)
    return WeightFile(arrays, "keras_h5", meta, name)


def _read_keras_h5_isolated(source: str | os.PathLike[str] | IO[bytes], name: str | None,
                            layer_classes: dict[str, str] | None, timeout: float) -> WeightFile:
    """``read_keras_h5`` in a child process that is killed after ``timeout`` seconds."""
    import tempfile

    from minicnn.io.isolated import read_isolated

    name = name or source_name(source)
    options = {"name": name, "layer_classes": layer_classes}
    if isinstance(source, (str, os.PathLike)):
        wf = read_isolated("keras_h5", source, timeout, **options)
    else:  # a file object (e.g. from a .keras zip): hand the child a copy on disk
        with tempfile.TemporaryDirectory(prefix="minicnn-h5-") as folder:
            copy = os.path.join(folder, "weights.h5")
            with open(copy, "wb") as f:
                source.seek(0)
                f.write(source.read())
            wf = read_isolated("keras_h5", copy, timeout, **options)
    wf.path = name
    return wf


def read_keras_archive(path: str | os.PathLike[str], *, timeout: float | None = None) -> WeightFile:
    """Read the weights inside a Keras 3 ``.keras`` zip (``model.weights.h5``).

    ``timeout``: see ``read_keras_h5`` (read the HDF5 part in a child process).
    """
    name = os.fspath(path)
    size = os.path.getsize(name)
    with open_zip(name, name, "a .keras archive") as zf:
        infos = {info.filename: info for info in zf.infolist()}
        if "model.weights.h5" not in infos:
            raise WeightFileError(f"{name}: no 'model.weights.h5' in the archive; expected "
                                  f"a .keras file, found {sorted(infos)[:10]}")
        data = read_zip_member(zf, infos["model.weights.h5"], size, name)
        classes: dict[str, str] = {}
        if "config.json" in infos:
            with reading(name, ".keras config.json"):
                config = json.loads(read_zip_member(zf, infos["config.json"], size, name))
            classes = _layer_classes_from_config(config)
    return read_keras_h5(io.BytesIO(data), f"{name}:model.weights.h5", classes, timeout=timeout)


# ------------------------------------------------------------------------ Keras 2
def _read_keras2(h5py: Any, base: Any, budget: OutputBudget, name: str, classes: dict[str, str]
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays: dict[str, np.ndarray] = {}
    layers, layouts, original = [], {}, {}
    for layer in _list_attr(base, "layer_names", name):
        group = base.get(layer)
        if not isinstance(group, h5py.Group):
            raise WeightFileError(f"{name}: layer {layer!r} is in layer_names but has no "
                                  f"group {base.name.rstrip('/')}/{layer}")
        keys = []
        weight_names = _list_attr(group, "weight_names", name) \
            if _has_list_attr(group, "weight_names") else []
        for weight_name in weight_names:
            key = _keras2_key(layer, weight_name)
            if key in arrays:
                raise WeightFileError(f"{name}: two weights of layer {layer!r} map to "
                                      f"{key!r}; expected unique weight names")
            arrays[key] = _read_dataset(h5py, group.get(weight_name), f"{group.name}/"
                                        f"{weight_name}", budget, name)
            layouts[key] = _layout(key, arrays[key].ndim, classes.get(layer))
            original[key] = weight_name
            keys.append(key)
        layers.append({"name": layer, "class": classes.get(layer), "weights": keys})
    return arrays, {"layers": layers, "layouts": layouts, "original_names": original}


def _keras2_key(layer: str, weight_name: str) -> str:
    """"block1_conv1/kernel:0" in layer "block1_conv1" -> "block1_conv1/kernel"."""
    parts = re.sub(r":\d+$", "", weight_name).split("/")
    if len(parts) > 1 and parts[0] == layer:
        parts = parts[1:]
    short = "/".join(parts)
    keras1 = re.fullmatch(re.escape(layer) + r"_(W|b)(_\d+)?", short)  # Keras 1 naming
    if keras1:
        short = "kernel" if keras1.group(1) == "W" else "bias"
    return f"{layer}/{short}"


# ------------------------------------------------------------------------ Keras 3
def _read_keras3(h5py: Any, f: Any, budget: OutputBudget, name: str, classes: dict[str, str]
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    root = next(f[r] for r in _KERAS3_ROOTS if r in f)
    var_groups: list[str] = []
    root.visititems(lambda path, obj: var_groups.append(path)
                    if isinstance(obj, h5py.Group) and path.split("/")[-1] == "vars" else None)
    found = []
    for path in var_groups:
        group = root[path]
        indices = sorted(group, key=lambda k: int(k) if k.isdigit() else -1)
        if not indices:
            continue  # layers without variables still get an empty vars group
        if not all(k.isdigit() for k in indices):
            raise WeightFileError(f"{name}: {group.name} has members {indices[:5]}; "
                                  "expected variables named 0, 1, 2, ...")
        datasets = [group[k] for k in indices]
        layer = "/".join(p for p in path.split("/")[:-1] if p not in _KERAS3_ROOTS)
        offsets = [d.id.get_offset() for d in datasets if isinstance(d, h5py.Dataset)]
        first = min((o for o in offsets if o is not None), default=float("inf"))
        found.append((first, layer, group, datasets))
    found.sort(key=lambda item: (item[0], item[1]))  # file (= model) order, then name

    arrays: dict[str, np.ndarray] = {}
    layers, layouts, original = [], {}, {}
    for _, layer, group, datasets in found:
        values = [_read_dataset(h5py, d, d.name, budget, name) for d in datasets]
        keys = []
        for var_name, ds, value in zip(_keras3_names(values), datasets, values):
            key = f"{layer}/{var_name}"
            arrays[key], original[key] = value, ds.name
            layouts[key] = _layout(key, value.ndim, classes.get(layer.split("/")[-1]))
            keys.append(key)
        layers.append({"name": layer, "class": classes.get(layer.split("/")[-1]),
                       "weights": keys})
    return arrays, {"layers": layers, "layouts": layouts, "original_names": original}


def _keras3_names(values: list[np.ndarray]) -> list[str]:
    """Weight names inferred from shapes (Keras 3 stores only indices), else the indices.

    [N-d, (last dim,)] -> kernel, bias (Dense, Conv);  [N-d] -> kernel;
    four vectors of one length -> BatchNormalization's gamma, beta, moving_mean,
    moving_variance (its variable order with center=True, scale=True).
    """
    if len(values) == 2 and values[0].ndim >= 2 and values[1].ndim == 1 \
            and values[1].shape[0] == values[0].shape[-1]:
        return ["kernel", "bias"]
    if len(values) == 1 and values[0].ndim >= 2:
        return ["kernel"]
    if len(values) == 4 and all(v.ndim == 1 and v.shape == values[0].shape for v in values):
        return ["gamma", "beta", "moving_mean", "moving_variance"]
    return [str(i) for i in range(len(values))]


# ------------------------------------------------------------------------ datasets & attrs
def _read_dataset(h5py: Any, ds: Any, path: str, budget: OutputBudget, name: str
                  ) -> np.ndarray:
    """Read one weight dataset after checking it is plain numbers the file can hold."""
    if not isinstance(ds, h5py.Dataset):
        raise WeightFileError(f"{name}: {path} is missing or not a dataset; expected the "
                              "weight array named in weight_names")
    if ds.is_virtual or ds.external:
        raise WeightFileError(f"{name}: {path} reads its data from other files; expected "
                              "data stored inside this file")
    bfloat16 = _text(ds.attrs.get("dtype", "")) == "bfloat16"  # Keras 3 marks bf16 this way
    dtype = ds.dtype
    if bfloat16 and dtype.itemsize == 2:
        dtype = np.dtype("<u2")
    elif dtype.kind not in "biuf" or dtype.fields is not None or ds.shape is None:
        raise WeightFileError(f"{name}: {path} has dtype {ds.dtype} and shape {ds.shape}; "
                              "expected a numeric array")
    nbytes = math.prod(ds.shape) * dtype.itemsize  # Python ints: no overflow
    file_size = budget.input_bytes
    stored = ds.id.get_storage_size()
    limit = stored if ds.chunks is None else MAX_DEFLATE_RATIO * max(stored, 1)
    if nbytes > 0 and (stored > file_size or nbytes > limit):
        raise WeightFileError(
            f"{name}: {path} claims shape {ds.shape} ({nbytes} bytes) but {stored} bytes "
            f"are stored in a {file_size}-byte file; the file is truncated or corrupted")
    budget.spend(nbytes * (2 if bfloat16 else 1), f"dataset {path}")  # bf16 -> fp32
    value = np.asarray(ds[()] if not bfloat16 else ds[()].view(dtype))
    if bfloat16:
        value = (value.astype(np.uint32) << 16).view(np.float32)  # bf16 = top half of fp32
    return np.asarray(value, dtype=value.dtype.newbyteorder("="), order="C")


def _layout(key: str, ndim: int, layer_class: str | None) -> str:
    """The axis order Keras stores a weight in (channels-last convention)."""
    leaf = key.rsplit("/", 1)[-1]
    if leaf == "depthwise_kernel" and ndim == 4:
        return "HWIM"  # (KH, KW, C_in, depth multiplier)
    if leaf in ("kernel", "pointwise_kernel", "recurrent_kernel"):
        if ndim == 4 and layer_class == "Conv2DTranspose":
            return "HWOI"
        return {2: "(in, out)", 3: "WIO", 4: "HWIO", 5: "DHWIO"}.get(ndim, "unknown")
    return "(C,)" if ndim == 1 else "unknown"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _has_list_attr(obj: Any, attr: str) -> bool:
    return attr in obj.attrs or f"{attr}0" in obj.attrs


def _list_attr(obj: Any, attr: str, name: str) -> list[str]:
    """A list-of-strings attribute, joining Keras' chunks ``attr0``, ``attr1``, ..."""
    if attr in obj.attrs:
        chunks = [obj.attrs[attr]]
    else:
        chunks, i = [], 0
        while f"{attr}{i}" in obj.attrs:
            chunks.append(obj.attrs[f"{attr}{i}"])
            i += 1
    out: list[str] = []
    for chunk in chunks:
        values = np.asarray(chunk).reshape(-1)  # (n,) bytes or str
        for v in values:
            if not isinstance(v, (bytes, str, np.bytes_, np.str_)):
                raise WeightFileError(f"{name}: attribute {obj.name}/{attr} holds "
                                      f"{type(v).__name__}; expected strings")
            out.append(_text(v))
    return out


def _layer_classes_from_config(config: Any) -> dict[str, str]:
    """``{layer name: class name}`` from a Keras model config (JSON text or dict)."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return {}
    classes: dict[str, str] = {}
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            inner = node.get("config")
            if isinstance(node.get("class_name"), str) and isinstance(inner, dict) \
                    and isinstance(inner.get("name"), str):
                classes.setdefault(inner["name"], node["class_name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return classes
