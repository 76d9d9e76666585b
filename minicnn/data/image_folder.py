"""ImageFolder: a dataset of image files sorted into one sub-folder per class.

    root/
        cat/  001.jpg  002.png ...
        dog/  a.jpg ...

Classes are the sub-folder names in sorted order (``cat`` -> 0, ``dog`` -> 1), as in
``torchvision.datasets.ImageFolder``. Images are decoded with Pillow only when an example is
read (``pip install minicnn[images]``).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from minicnn.data.dataset import Dataset

__all__ = ["ImageFolder", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")


def _import_pil() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError("ImageFolder reads image files with Pillow, which is not installed; "
                          "install the images extra: pip install 'minicnn[images]'") from err
    return Image


class ImageFolder(Dataset):
    """Class-per-sub-folder images: ``dataset[i] -> (image (C, H, W) float32 in [0, 1], label)``.

    Args:
        root: folder with one sub-folder per class.
        transform: optional function applied to each (C, H, W) float32 image after loading
            (for random augmentation of whole batches, prefer ``DataLoader(transform=...)``).
        size: resize every image to ``size`` (an int for square, or ``(H, W)``) with bilinear
            interpolation; needed when the files have different sizes and you batch them.
        mode: ``"RGB"`` (C = 3) or ``"L"`` (grey, C = 1).
        extensions: file suffixes counted as images (case-insensitive).

    Attributes:
        classes: sorted class names.  class_to_idx: name -> label.
        samples: list of (path, label), sorted by class then file name.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "RGB",
        extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a folder")
        if mode not in ("RGB", "L"):
            raise ValueError(f"ImageFolder: mode must be 'RGB' or 'L', got {mode!r}")
        if isinstance(size, int):
            size = (size, size)
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"ImageFolder: size must be a positive int or (H, W), got {size!r}")
        self.transform = transform
        self.size = size
        self.mode = mode

        self.classes = sorted(entry.name for entry in self.root.iterdir() if entry.is_dir())
        if not self.classes:
            raise ValueError(f"ImageFolder: {self.root} has no sub-folders; put the images of "
                             f"each class in their own folder, e.g. {self.root / 'cat'}/1.jpg")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        suffixes = tuple(ext.lower() for ext in extensions)
        self.samples: list[tuple[Path, int]] = [
            (path, self.class_to_idx[name])
            for name in self.classes
            for path in sorted((self.root / name).rglob("*"))
            if path.is_file() and path.suffix.lower() in suffixes
        ]
        if not self.samples:
            raise ValueError(f"ImageFolder: no image files ({', '.join(suffixes)}) in the "
                             f"class folders of {self.root}")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, label = self.samples[index]
        image = self.load_image(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def load_image(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Decode one file to a (C, H, W) float32 array in [0, 1]."""
        pil = _import_pil()
        with pil.open(path) as img:
            img = img.convert(self.mode)
            if self.size is not None:
                height, width = self.size
                bilinear = getattr(pil, "Resampling", pil).BILINEAR        # Pillow >= 9.1 / older
                img = img.resize((width, height), bilinear)             # PIL wants (W, H)
            pixels = np.asarray(img, dtype=np.uint8)                 # (H, W, 3) or (H, W)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]                              # (H, W) -> (H, W, 1)
        return pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)   # (C, H, W)

    def __repr__(self) -> str:
        return (f"ImageFolder({str(self.root)!r}, {len(self)} images, "
                f"{len(self.classes)} classes)")
