"""A plain layer-by-layer NumPy implementation of the dense Grams: a benchmark baseline.

What a careful user would write without Numba: every layer of the recursion
(docs/math.md §2, §3, §5) is one vectorised NumPy expression over the whole (n, n)
matrix, with the closed forms of docs/math.md §8 for ReLU (arc-cosine) and erf
(arcsine). It materialises several (n, n) temporaries per layer and visits
every pair twice (no symmetry), which is exactly what the fused Numba kernels
avoid. It is a baseline for ``ntkgd bench``, not a backend: it has no memory
check, no Mehler series (other activations raise), and is tested only against
the numba backend on small inputs.
"""

from __future__ import annotations

import math

import numpy as np

from ..specs import ClosedForm
from ..specs import FullyConnected, ResNet, TwoLayer

__all__ = ["NUMPY_ACTIVATIONS", "numpy_grams"]

#: Activations with closed forms, the only ones this baseline supports.
NUMPY_ACTIVATIONS = ("relu", "erf")


def _expectations(closed_form: ClosedForm, K: np.ndarray, diag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E[s(u) s(v)], E[s'(u) s'(v)])`` for every pair, ``(u, v) ~ N(0, [[K_ii, K_ij], [K_ij, K_jj]])``."""
    ab = np.outer(diag, diag)
    if closed_form is ClosedForm.RELU:
        # theta = atan2(sqrt(ab - c^2), c): accurate near rho = 1 (docs/math.md §8), exactly 0 on a duplicate.
        theta = np.arctan2(np.sqrt(np.maximum(ab - K * K, 0.0)), K)
        ess = (np.sqrt(ab) * np.sin(theta) + (np.pi - theta) * K) / (2.0 * np.pi)
        edd = (np.pi - theta) / (2.0 * np.pi)
        return ess, edd
    grow = 1.0 + 2.0 * diag
    denominator = np.outer(grow, grow)
    ess = (2.0 / np.pi) * np.arcsin(np.clip(2.0 * K / np.sqrt(denominator), -1.0, 1.0))
    edd = (4.0 / np.pi) / np.sqrt(denominator - 4.0 * K * K)
    return ess, edd


def _mean(closed_form: ClosedForm, variances: np.ndarray) -> np.ndarray:
    """``E[s(u)]`` for ``u ~ N(0, variance)``: ``sqrt(a / 2 pi)`` for ReLU, 0 for erf (odd)."""
    if closed_form is ClosedForm.RELU:
        return np.sqrt(variances / (2.0 * np.pi))
    return np.zeros_like(variances)


def _fc(arch, K0: np.ndarray) -> dict:
    """Two-layer / FC: ``Theta_{h+1} = K^(h) + Edot^(h) * Theta_h``, paper = ``K^(H-1) * Edot^(H)``."""
    form = arch.act.closed_form
    scale = arch.scale
    K, ntk = K0, K0
    paper = None
    for h in range(1, arch.depth + 1):
        ess, edd = _expectations(form, K, np.diagonal(K).copy())
        edot = scale * edd
        if h == arch.depth:
            paper = K * edot
        K_next = scale * ess
        ntk = edot * ntk + K_next
        K = K_next
    if not arch.trains_output_layer:  # TwoLayer: only W is trained, the NTK is the paper's Gram
        ntk = paper
    return {"paper": paper, "ntk": ntk, "nngp": K}


def _resnet(arch: ResNet, K0: np.ndarray) -> dict:
    """The paper's ResNet, docs/math.md §3: mean terms ``b_i mu_j + mu_i b_j``, tangent recursion ``T^(h)``."""
    form = arch.act.closed_form
    s_h = arch.branch_scale
    ess, edd = _expectations(form, K0, np.diagonal(K0).copy())
    K_prev, K = K0, arch.scale * ess
    edot = arch.scale * edd
    tangent = edot * K0
    b = math.sqrt(arch.scale) * _mean(form, np.diagonal(K0))
    for _ in range(2, arch.depth + 1):
        diag = np.diagonal(K).copy()
        mu = _mean(form, diag)
        ess, edd = _expectations(form, K, diag)
        edot = s_h**2 * edd
        tangent = tangent + edot * (K + tangent)
        K_prev, K = K, K + s_h * (np.outer(b, mu) + np.outer(mu, b)) + s_h**2 * ess
        b = b + s_h * mu
    return {"paper": edot * K_prev, "ntk": K + tangent, "nngp": K}


def numpy_grams(arch: TwoLayer | FullyConnected | ResNet, X: np.ndarray) -> dict:
    """``{"paper", "ntk", "nngp"}`` of ``arch`` on ``X`` (n, d), float64 (n, n), layer by layer in NumPy.

    Raises
    ------
    ValueError
        For activations without a closed form (see :data:`NUMPY_ACTIVATIONS`).
    """
    if not isinstance(arch, (TwoLayer, FullyConnected, ResNet)):
        raise TypeError(f"numpy_grams: arch must be TwoLayer, FullyConnected or ResNet, got {type(arch).__name__}.")
    if arch.act.closed_form not in (ClosedForm.RELU, ClosedForm.ERF):
        raise ValueError(
            f"numpy_grams: the NumPy baseline has closed forms only for {', '.join(NUMPY_ACTIVATIONS)}, "
            f"got activation {arch.act.name!r}; a 2-D quadrature per pair and layer would need deg^2 (n, n) arrays."
        )
    X = np.ascontiguousarray(X, dtype=np.float64)
    K0 = X @ X.T.copy()  # two buffers: gemm; NumPy sends X @ X.T to syrk, which crashes at large n on AVX-512
    if isinstance(arch, ResNet):
        return _resnet(arch, K0)
    return _fc(arch, K0)
