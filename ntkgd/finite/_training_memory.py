"""How much memory :func:`ntkgd.train` needs, and the check that refuses a run that will not fit."""

from __future__ import annotations

import math

import numpy as np

from ..core import check_fits_in_memory
from ..specs import ConvResNet

__all__ = ["check_training_fits", "training_memory"]


def training_memory(arch, X: np.ndarray, width: int, steps: int, track_every: int) -> int:
    """Bytes at the peak of :func:`train`, the analytic Gram included.

    Weights 3x (current, initial, gradient) and the activations of one pass;
    the per-layer Grams kept at every tracked step (``H`` matrices at each of
    ``ceil(steps / track_every) + 1`` steps) plus the NTK summed from them and
    the two half Grams of the split (:mod:`._gram_split`);
    the analytic paper Gram and NTK and the eigendecomposition workspace.
    """
    n = X.shape[0]
    spatial = X.shape[2:] if isinstance(arch, ConvResNet) else ()
    pixels = math.prod(spatial)
    taps = arch.patch ** len(spatial) if isinstance(arch, ConvResNet) else 1
    fan_in0 = X.shape[1] * taps
    weights = width * fan_in0 + (arch.depth - 1) * width * width * taps + width * pixels
    activations = (4 * arch.depth + 4) * n * width * pixels
    tracked = -(-steps // track_every) + 1
    groups = arch.depth + (1 if arch.trains_output_layer else 0)
    grams = (tracked * (groups + 3) + 6) * n * n
    return 8 * (3 * weights + activations + grams)


def check_training_fits(arch, X: np.ndarray, width: int, steps: int, track_every: int,
                        memory_limit: int | None, *, owner: str = "train") -> None:  # fmt: skip
    """Refuse, before anything of size n x n exists, a run that :func:`training_memory` says will not fit."""
    check_fits_in_memory(
        training_memory(arch, X, width, steps, track_every), owner=owner,
        what=f"training a width-{width} network on n = {X.shape[0]} (tracking {-(-steps // track_every) + 1} "
        "steps of per-layer Grams)", limit=memory_limit,
        suggestion="Use fewer inputs, a larger track_every, fewer steps or a smaller width.",
    )  # fmt: skip
