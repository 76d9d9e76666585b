"""``WeightFile``: what every reader in ``minicnn.io`` returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class WeightFile:
    """The named arrays of one weight file, plus what is known about where they came from.

    Attributes:
        arrays: ``{name: array}`` in the file's own order and naming, e.g.
            ``"features.0.weight"`` (PyTorch) or ``"block1_conv1/kernel"`` (Keras).
            Arrays are plain, C-contiguous, native-endian NumPy arrays that own their
            memory; bfloat16 is widened to float32 (exactly).
        format: ``"torch"``, ``"keras_h5"``, ``"safetensors"``, ``"onnx"`` or ``"npz"``.
        meta: format-specific facts a later name/layout mapper needs, e.g. the Keras
            layer order and each kernel's layout (``"HWIO"``), or the PyTorch
            checkpoint key the state dict was found under. Always JSON-friendly.
        path: the file that was read.
    """

    arrays: dict[str, np.ndarray]
    format: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def __repr__(self) -> str:
        total = sum(a.size for a in self.arrays.values())
        return (f"WeightFile(format={self.format!r}, path={self.path!r}, "
                f"{len(self.arrays)} arrays, {total} values)")
