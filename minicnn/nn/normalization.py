"""Batch normalisation: ``BatchNorm1d`` (after Linear) and ``BatchNorm2d`` (after Conv2d).

Per channel c, over the batch (and the spatial positions for 2-D):

    mean_c = mean of x[:, c],   var_c = mean of (x[:, c] - mean_c)^2     (biased, divides by m)
    y[:, c] = (x[:, c] - mean_c) / sqrt(var_c + eps) * weight[c] + bias[c]

In training mode the batch statistics are used and the running estimates are updated:

    running_mean = (1 - momentum) * running_mean + momentum * mean_c
    running_var  = (1 - momentum) * running_var  + momentum * var_c * m / (m - 1)   (unbiased)

where m = N (1d) or N*H*W (2d).  In ``eval()`` mode the running estimates replace the batch
statistics, so a single test image is normalised the same way whatever else is in its batch.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which differ only in the input shapes they accept.

    Args:
        num_features: C, the number of channels (features).
        eps: added to the variance before the square root, for numerical safety (default 1e-5).
        momentum: weight of the newest batch in the running averages (default 0.1); None
            gives the plain cumulative average over all batches seen (1 / num_batches_tracked).
        affine: learn a per-channel scale ``weight`` (init 1) and shift ``bias`` (init 0).
        track_running_stats: keep running averages for eval mode (default True); if False,
            batch statistics are used in eval mode too and there are no buffers.

    Attributes:
        weight, bias: (C,) float32 Parameters (None if ``affine=False``).
        running_mean, running_var: (C,) float32 buffers, init 0 and 1 (None if not tracking).
        num_batches_tracked: int64 scalar buffer, batches seen in training mode.
    """

    _accepted_ndims: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive integer, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))   # gamma
            self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))    # beta
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._accepted_ndims:
            raise ValueError(
                f"{type(self).__name__}: expected an input of shape {self._shape_text}, got {x.shape} "
                f"({x.ndim}-D)" + (
                    "; for images (N, C, H, W) use BatchNorm2d" if x.ndim == 4 else
                    "; for feature vectors (N, C) use BatchNorm1d" if x.ndim == 2 else ""))
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): the input has {x.shape[1]} channels "
                f"(shape {x.shape}, channels on axis 1); use {type(self).__name__}({x.shape[1]})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1  # in place: the 0-d int64 array stays the same object
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked.item())  # cumulative average
        # Batch statistics in training mode, and in eval mode when there are no running ones.
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=factor, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of feature vectors (see ``_BatchNorm`` for arguments).

    Shape: x: (N, C) or (N, C, L)  ->  y: same shape.  Statistics over N (and L).
    """

    _accepted_ndims = (2, 3)
    _shape_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of feature maps (see ``_BatchNorm`` for arguments).

    Shape: x: (N, C, H, W)  ->  y: same shape.  Statistics per channel over N, H and W.

    Example:
        >>> bn = BatchNorm2d(64)            # after Conv2d(..., 64, ...); 128 parameters
        >>> sorted(bn.state_dict())
        ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']
    """

    _accepted_ndims = (4,)
    _shape_text = "(N, C, H, W)"
