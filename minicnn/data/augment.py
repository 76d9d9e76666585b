"""Batch data augmentation on NumPy arrays: every op transforms a whole batch at once.

Notation:
    N, C, H, W   batch size, channels, height, width of the input x: (N, C, H, W) float
    rng          a ``np.random.Generator``; None means minicnn's default generator
                 (reset by ``minicnn.manual_seed``)

Each random op draws one set of parameters *per image* (a flip or not, an offset, an angle)
as arrays of length N, and then applies them to all images with array indexing: there is no
Python loop over images or pixels. Every op returns a new array with the shape and dtype of
its input (float32 stays float32).

Functions do the math (``random_hflip(x, p, rng)``); the classes (``RandomHorizontalFlip(p)``)
only remember parameters, so they can be listed in a :class:`Compose`:

    >>> augment = Compose([RandomCrop(padding=2), RandomAffine(degrees=10, scale=(0.9, 1.1)),
    ...                    Normalize([0.1307], [0.3081])], seed=0)
    >>> loader = DataLoader(DigitsDataset("train"), batch_size=64, shuffle=True,
    ...                     transform=augment)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from minicnn.random import get_rng

__all__ = [
    "hflip", "random_hflip", "random_crop", "random_shift", "warp_affine", "rotate",
    "random_affine", "adjust_brightness", "adjust_contrast", "random_brightness_contrast",
    "gaussian_noise", "normalize",
    "RandomHorizontalFlip", "RandomCrop", "RandomAffine", "ColorJitter", "GaussianNoise",
    "Normalize", "Compose",
]

Generator = np.random.Generator


def _check_batch(x: np.ndarray, op: str) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{op}: expects a float NumPy batch of shape (N, C, H, W), got "
                         f"{type(x).__name__} {getattr(x, 'shape', '')} "
                         f"{getattr(x, 'dtype', '')}")


# ---- flips and crops ------------------------------------------------------------------------
def hflip(x: np.ndarray) -> np.ndarray:
    """Mirror left-right: out[n, c, i, j] = x[n, c, i, W-1-j]."""
    _check_batch(x, "hflip")
    return x[:, :, :, ::-1].copy()


def random_hflip(x: np.ndarray, p: float = 0.5, rng: Generator | None = None) -> np.ndarray:
    """Mirror each image left-right with probability ``p``."""
    _check_batch(x, "random_hflip")
    flip = get_rng(rng).random(len(x)) < p                     # (N,) bool
    out = x.copy()
    out[flip] = x[flip][:, :, :, ::-1]
    return out


def random_crop(x: np.ndarray, size: int | tuple[int, int] | None = None, padding: int = 0,
                rng: Generator | None = None) -> np.ndarray:
    """Zero-pad by ``padding`` on every side, then cut a random ``size`` window per image.

    out[n, c, i, j] = xpad[n, c, oy[n] + i, ox[n] + j],  oy in 0..H+2P-h, ox in 0..W+2P-w.
    With the default size (H, W) this is a random shift of up to ``padding`` pixels.

    Shape: (N, C, H, W) -> (N, C, h, w).
    """
    _check_batch(x, "random_crop")
    n, c, h_in, w_in = x.shape
    h, w = (h_in, w_in) if size is None else ((size, size) if isinstance(size, int) else size)
    hp, wp = h_in + 2 * padding, w_in + 2 * padding
    if padding < 0 or h > hp or w > wp or h < 1 or w < 1:
        raise ValueError(f"random_crop: a {h}x{w} window does not fit a {h_in}x{w_in} image "
                         f"padded by {padding} ({hp}x{wp}); use size <= ({hp}, {wp})")
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rng = get_rng(rng)
    oy = rng.integers(0, hp - h + 1, size=n)                   # (N,) top rows
    ox = rng.integers(0, wp - w + 1, size=n)                   # (N,) left columns
    rows = oy[:, None] + np.arange(h)                          # (N, h)
    cols = ox[:, None] + np.arange(w)                          # (N, w)
    batch = np.arange(n)[:, None, None, None]
    chans = np.arange(c)[None, :, None, None]
    return xpad[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]   # (N, C, h, w)


def random_shift(x: np.ndarray, max_shift: int, rng: Generator | None = None) -> np.ndarray:
    """Translate each image by up to ``max_shift`` pixels in y and x, filling with zeros."""
    return random_crop(x, None, max_shift, rng)


# ---- rotation and scaling: an affine warp ---------------------------------------------------
def warp_affine(x: np.ndarray, inverse: np.ndarray, mode: str = "bilinear") -> np.ndarray:
    """Resample every image through its own 2x2 matrix about the image centre.

    For output pixel (i, j), with centre (cy, cx) = ((H-1)/2, (W-1)/2):

        [sy, sx] = inverse[n] @ [i - cy, j - cx] + [cy, cx]
        out[n, :, i, j] = x[n, :, sy, sx]       (bilinear or nearest; 0 outside the image)

    ``inverse`` maps output to input (the inverse of the visible motion), so every output
    pixel gets exactly one value and there are no holes.

    Args:
        x: (N, C, H, W).
        inverse: (N, 2, 2) matrices acting on (row, column) offsets.
        mode: ``"bilinear"`` (weighted mean of the 4 neighbours) or ``"nearest"``.
    """
    _check_batch(x, "warp_affine")
    n, c, h, w = x.shape
    inverse = np.asarray(inverse, dtype=x.dtype)
    if inverse.shape != (n, 2, 2):
        raise ValueError(f"warp_affine: inverse must be (N, 2, 2) = ({n}, 2, 2), "
                         f"got {inverse.shape}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"warp_affine: mode must be 'bilinear' or 'nearest', got {mode!r}")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = (np.arange(h, dtype=x.dtype) - cy)[None, :, None]    # (1, H, 1) row offsets
    dx = (np.arange(w, dtype=x.dtype) - cx)[None, None, :]    # (1, 1, W) column offsets
    a = inverse[:, :, :, None, None]                           # (N, 2, 2, 1, 1)
    sy = a[:, 0, 0] * dy + a[:, 0, 1] * dx + cy                # (N, H, W) source rows
    sx = a[:, 1, 0] * dy + a[:, 1, 1] * dx + cx                # (N, H, W) source columns

    xt = x.transpose(0, 2, 3, 1)                               # (N, H, W, C): gather whole pixels
    if mode == "nearest":
        out = _pixels(xt, np.rint(sy).astype(np.intp), np.rint(sx).astype(np.intp))
    else:
        y0, x0 = np.floor(sy), np.floor(sx)
        wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]    # (N, H, W, 1) weights in [0, 1)
        y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
        out = ((1 - wy) * ((1 - wx) * _pixels(xt, y0, x0) + wx * _pixels(xt, y0, x0 + 1))
               + wy * ((1 - wx) * _pixels(xt, y0 + 1, x0) + wx * _pixels(xt, y0 + 1, x0 + 1)))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(x.dtype, copy=False)


def _pixels(xt: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """xt[n, iy[n, i, j], ix[n, i, j], :] for every n, i, j; zero where (iy, ix) is outside."""
    n, h, w, _ = xt.shape
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)       # (N, H, W)
    batch = np.arange(n)[:, None, None]
    values = xt[batch, np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]   # (N, H, W, C)
    return values * inside[..., None]


def _rotation_scale_inverse(angles_deg: np.ndarray, scales: np.ndarray,
                            dtype: np.dtype) -> np.ndarray:
    """(N, 2, 2) inverses of "rotate counter-clockwise by angle, then zoom by scale".

    In (row, column) coordinates, rows pointing down, the visible motion is
    [r', c'] = s * [[cos, -sin], [sin, cos]] [r, c]; its inverse is
    [r, c] = (1/s) * [[cos, sin], [-sin, cos]] [r', c'].
    """
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    cos, sin = np.cos(theta) / scales, np.sin(theta) / scales
    inverse = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    return inverse.astype(dtype)                               # (N, 2, 2)


def rotate(x: np.ndarray, angle: float | np.ndarray, scale: float | np.ndarray = 1.0,
           mode: str = "bilinear") -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees and zoom by ``scale`` about the centre.

    ``angle`` and ``scale`` are numbers or (N,) arrays (one per image). Corners that come
    from outside the image are 0. ``rotate(x, 90)`` on a square image equals
    ``np.rot90(x, axes=(2, 3))``.
    """
    _check_batch(x, "rotate")
    n = len(x)
    angles = np.broadcast_to(np.asarray(angle, dtype=np.float64), (n,))
    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    if np.any(scales <= 0):
        raise ValueError(f"rotate: scale must be > 0, got min {scales.min()}")
    return warp_affine(x, _rotation_scale_inverse(angles, scales, x.dtype), mode)


def random_affine(x: np.ndarray, degrees: float = 10.0,
                  scale: tuple[float, float] = (1.0, 1.0), mode: str = "bilinear",
                  rng: Generator | None = None) -> np.ndarray:
    """Rotate each image by an angle ~ U(-degrees, degrees) and zoom by ~ U(scale)."""
    rng = get_rng(rng)
    n = len(x)
    angles = rng.uniform(-degrees, degrees, size=n)
    scales = rng.uniform(scale[0], scale[1], size=n)
    return rotate(x, angles, scales, mode)


# ---- intensity ------------------------------------------------------------------------------
def _clip(x: np.ndarray, clip: tuple[float, float] | None) -> np.ndarray:
    return x if clip is None else np.clip(x, clip[0], clip[1])


def adjust_brightness(x: np.ndarray, delta: float | np.ndarray,
                      clip: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """out = x + delta (one delta per image when an (N,) array), clipped to ``clip``."""
    _check_batch(x, "adjust_brightness")
    delta = np.broadcast_to(np.asarray(delta, dtype=x.dtype), (len(x),))
    return _clip(x + delta[:, None, None, None], clip)


def adjust_contrast(x: np.ndarray, factor: float | np.ndarray,
                    clip: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """out = mean + factor * (x - mean), with each image's own mean over (C, H, W)."""
    _check_batch(x, "adjust_contrast")
    factor = np.broadcast_to(np.asarray(factor, dtype=x.dtype), (len(x),))[:, None, None, None]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)               # (N, 1, 1, 1)
    return _clip(mean + factor * (x - mean), clip)


def random_brightness_contrast(x: np.ndarray, brightness: float = 0.2, contrast: float = 0.2,
                               clip: tuple[float, float] | None = (0.0, 1.0),
                               rng: Generator | None = None) -> np.ndarray:
    """delta ~ U(-brightness, brightness), factor ~ U(1-contrast, 1+contrast), per image."""
    rng = get_rng(rng)
    n = len(x)
    delta = rng.uniform(-brightness, brightness, size=n)
    factor = rng.uniform(1 - contrast, 1 + contrast, size=n)
    return adjust_contrast(adjust_brightness(x, delta, None), factor, clip)


def gaussian_noise(x: np.ndarray, std: float = 0.05, rng: Generator | None = None) -> np.ndarray:
    """out = x + std * z, z ~ N(0, 1) independently for every value (not clipped)."""
    _check_batch(x, "gaussian_noise")
    noise_dtype = np.float64 if x.dtype == np.float64 else np.float32
    noise = get_rng(rng).standard_normal(x.shape, dtype=noise_dtype)
    return (x + x.dtype.type(std) * noise).astype(x.dtype, copy=False)


def normalize(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """out[:, c] = (x[:, c] - mean[c]) / std[c], e.g. MNIST mean 0.1307, std 0.3081."""
    _check_batch(x, "normalize")
    mean_c = np.asarray(mean, dtype=x.dtype).reshape(-1)
    std_c = np.asarray(std, dtype=x.dtype).reshape(-1)
    if len(mean_c) != x.shape[1] or len(std_c) != x.shape[1] or np.any(std_c <= 0):
        raise ValueError(f"normalize: need one mean and one std > 0 per channel (C = "
                         f"{x.shape[1]}), got mean {mean_c.tolist()} std {std_c.tolist()}")
    return (x - mean_c[None, :, None, None]) / std_c[None, :, None, None]


# ---- configurable transforms for Compose ----------------------------------------------------
class RandomHorizontalFlip:
    """See :func:`random_hflip`."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        return random_hflip(x, self.p, rng)


class RandomCrop:
    """See :func:`random_crop` (``RandomCrop(padding=4)`` is the classic CIFAR shift)."""

    def __init__(self, size: int | tuple[int, int] | None = None, padding: int = 0) -> None:
        self.size, self.padding = size, padding

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        return random_crop(x, self.size, self.padding, rng)


class RandomAffine:
    """See :func:`random_affine`: small random rotation and zoom."""

    def __init__(self, degrees: float = 10.0, scale: tuple[float, float] = (1.0, 1.0),
                 mode: str = "bilinear") -> None:
        self.degrees, self.scale, self.mode = degrees, scale, mode

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        return random_affine(x, self.degrees, self.scale, self.mode, rng)


class ColorJitter:
    """See :func:`random_brightness_contrast`."""

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2,
                 clip: tuple[float, float] | None = (0.0, 1.0)) -> None:
        self.brightness, self.contrast, self.clip = brightness, contrast, clip

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        return random_brightness_contrast(x, self.brightness, self.contrast, self.clip, rng)


class GaussianNoise:
    """See :func:`gaussian_noise`."""

    def __init__(self, std: float = 0.05) -> None:
        self.std = std

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        return gaussian_noise(x, self.std, rng)


class Normalize:
    """See :func:`normalize` (not random; ``rng`` is ignored)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        return normalize(x, self.mean, self.std)


Transform = Callable[..., np.ndarray]


class Compose:
    """Apply transforms in order, all drawing from one generator: ``augment(x) -> x'``.

    Args:
        transforms: callables ``t(x, rng) -> x`` (the classes above, or your own).
        seed: an int seed for Compose's own generator (reproducible augmentation), or a
            ``np.random.Generator``; None uses minicnn's default generator.
    """

    def __init__(self, transforms: Sequence[Transform],
                 seed: int | Generator | None = None) -> None:
        self.transforms = list(transforms)
        self.rng = seed if seed is None or isinstance(seed, Generator) \
            else np.random.default_rng(seed)

    def __call__(self, x: np.ndarray, rng: Generator | None = None) -> np.ndarray:
        rng = get_rng(rng if rng is not None else self.rng)
        for transform in self.transforms:
            x = transform(x, rng)
        return x

    def __repr__(self) -> str:
        inner = ", ".join(type(t).__name__ for t in self.transforms)
        return f"Compose([{inner}])"
