"""``minicnn convert SRC DST.npz``: any supported weight file -> minicnn's own ``.npz``.

Two modes:

- with ``--model vgg16`` (any builder in ``minicnn.models``): the file is mapped onto that
  architecture (``minicnn.io.mapping.load_into``: any naming, Keras layouts converted,
  the Keras flatten order fixed), and the model's ``state_dict`` is written.  The result
  has torchvision's keys and layouts and loads with ``vgg16(weights="DST.npz")`` without
  any conversion, and without h5py / onnx installed.
- without ``--model``: the arrays are copied as they are, names and layouts unchanged.

The manifest (stored inside the ``.npz`` as JSON) records the source file and its SHA-256,
its format, the layout of the arrays, the preprocessing the weights expect, and a SHA-256
of every array (checked on load).  The write is atomic: a crash never leaves a
half-written file under DST.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["convert"]


def convert(src: str | Path, dst: str | Path, model: str | None = None,
            include_top: bool = True) -> dict[str, Any]:
    """Convert ``src`` to ``dst`` (.npz); returns the manifest that was written."""
    from .download import sha256_file
    from .io import read_weights, save_npz

    src, dst = Path(src), Path(dst)
    if dst.suffix != ".npz":
        raise ValueError(f"convert: the destination must end in .npz, got {dst.name}")
    wf = read_weights(src)
    manifest: dict[str, Any] = {
        "source": src.name,
        "source_sha256": sha256_file(src),
        "source_format": wf.format,
    }
    if model is None:
        arrays = dict(wf.arrays)
        manifest["layout"] = f"as in the {wf.format} file"
    else:
        from . import models

        builder = getattr(models, model, None)
        if builder is None or not callable(builder):
            raise ValueError(f"convert: unknown model {model!r}; choose one of {', '.join(models.__all__)}")
        # the builder maps the file onto the architecture and picks its preprocessing
        net = builder(weights=str(src), include_top=include_top)
        arrays = dict(net.state_dict())
        manifest["architecture"] = model
        manifest["include_top"] = include_top
        manifest["layout"] = "torchvision (OIHW convolutions, (out, in) linear layers)"
        manifest["load_report"] = str(net.load_report)
        preprocessing = getattr(net, "preprocessing", None)
        if preprocessing is not None:
            manifest["preprocessing"] = {"name": preprocessing.name, "channel_order": preprocessing.channel_order,
                                         "scale": preprocessing.scale, "mean": list(preprocessing.mean),
                                         "std": list(preprocessing.std)}
    save_npz(dst, arrays, manifest=manifest)
    return manifest
