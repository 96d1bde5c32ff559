"""The convolutional ReLU recursion for one pair, carrying Cauchy-Schwarz defects (docs/math.md §8).

Also the per-pixel helpers that the tile kernels of ``_conv.py`` share with it
(:func:`patch_sum`, :func:`layer_update`).

For a nearly parallel pixel pair the arc-cosine angle taken from ``ab - c^2``
turns the rounding of the patch sum ``c`` (one ulp of sqrt(ab)) into about
sqrt(eps) in the Gram. :func:`near_parallel_pair` recomputes every layer of a
pair that :func:`ntkgd.kernels._conv._tile` flagged (some pixel at some layer
with ``1 - rho < NEAR_PARALLEL``) and takes each angle from the *defect*
``D = sqrt(ab) - c >= 0`` of the pre-activation covariance instead, a quantity
that is never formed by subtracting nearly equal numbers:

* A patch sum ``c[s] = sum_t k[t]`` is the inner product of the two points'
  concatenated pixel vectors. Splitting each pixel vector into orthogonal
  components with known norms u_k (point i) and v_k (point j), each with its own
  defect d_k = u_k v_k - c_k >= 0, gives
  ``D = (|u| |v| - u . v) + sum_k d_k`` and, with ``|u|^2 = a``, ``|v|^2 = b``,
  ``|u| |v| - u . v = sqrt(ab) |u / sqrt(a) - v / sqrt(b)|^2 / 2`` (the
  Cauchy-Schwarz gap of the component norms, from a difference of normalised
  vectors: accurate to about one ulp of ``|u/|u| - v/|v||``).
* Layer 1's components are the input pixels ``x[:, t]``, ``d^(0)[t] =
  |x_i[:,t]| |x_j[:,t]| |x_i[:,t]/|x_i[:,t]| - x_j[:,t]/|x_j[:,t]||^2 / 2``.
* After a layer, each pixel vector is its mean ``b`` (a nonnegative multiple of
  the all-ones direction, defect 0) plus a centred part of squared norm
  ``n = k_ii - b^2``, with ``n^(1) = c_s V a^(1)``, ``n^(h) = n^(h-1) + s_H^2 V a^(h)``,
  ``V = (pi - 1) / (2 pi)`` (ReLU: ``E[s(u)^2] - E[s(u)]^2 = V a``). The centred
  part of the new branch is orthogonal to the old pixel vector, so its defect is
  ``n-defect' = n-defect + s_H^2 e + gap((sqrt n_i, s_H sqrt(V a_i)), (sqrt n_j, s_H sqrt(V a_j)))``
  (layer 1: ``c_s e``), where ``e = (pi D - (sqrt(ab) sin(theta) - theta c)) / (2 pi)`` is
  the centred defect of ``(relu(u), relu(v))``.
* The layer-(h+1) pre-activation at pixel s has the components ``b^(h)[t]`` and
  ``sqrt(n^(h)[t])`` for t in the patch of s, and ``D = gap + sum_t n-defect[t]``.

The angle is then ``atan2(sqrt(D (sqrt(ab) + c)), c)``, accurate to about
1e-16 absolute, so every Gram entry keeps full relative accuracy (ReLU is
positively homogeneous: exact repeats give D = 0 exactly, rescaled copies
D = O(eps^2 sqrt(ab))). Anti-parallel pixels (rho -> -1, where sqrt(ab) + c
cancels) are not helped.
"""

import math

import numba

from ._atan import atan2_upper
from ._config import JIT

__all__ = ["NEAR_PARALLEL", "layer_update", "near_parallel_pair", "patch_sum"]

#: A pair is recomputed by :func:`near_parallel_pair` when some pixel at some layer has 1 - rho below this.
#: Above it the angle from ab - c^2 is off by about eps / theta <= eps / sqrt(2 NEAR_PARALLEL) ~ 1.6e-14
#: (a few ulps of ab - c^2 over theta = sqrt(2 (1 - rho))); 1e-4 rather than the dense kernels' 1/64 because
#: conv pairs are recomputed whole, and on the digits 1/64 flags half of the pairs, 1e-4 only 3.5%.
NEAR_PARALLEL = 1e-4

_INV_TWO_PI = 1.0 / (2.0 * math.pi)
#: Var[relu(u)] / a for u ~ N(0, a).
_CENTRED = (math.pi - 1.0) / (2.0 * math.pi)


@numba.njit(**JIT)
def patch_sum(values, neighbours, s):
    """``P(M)[s, s] = sum_a M[s + a, s + a]`` from the diagonal ``values``; -1 marks padding."""
    total = 0.0
    for o in range(neighbours.shape[1]):
        t = neighbours[s, o]
        if t >= 0:
            total += values[t]
    return total


@numba.njit(**JIT)
def layer_update(layer, scale, branch, ess, edd, b_i, mu_j, mu_i, b_j, k_prev):
    """``(K^(h), Edot^(h))`` at one pixel (docs/math.md §4); ``layer`` is h - 1 (layer 1 has no residual)."""
    if layer == 0:
        return scale * ess, scale * edd
    return k_prev + branch * (b_i * mu_j + mu_i * b_j) + branch * branch * ess, branch * branch * edd


@numba.njit(**JIT)
def _inverse_roots(values, out):
    """``out = 1 / sqrt(values)``, and 0 where a value is 0 (a zero patch, whose gaps are then 0)."""
    for s in range(out.shape[0]):
        v = values[s]
        out[s] = 1.0 / math.sqrt(v) if v > 0.0 else 0.0


@numba.njit(**JIT)
def near_parallel_pair(X, i, j, neighbours, scale, branch, variances, means, offsets, single, k_diag, cov, edot,
                       scratch):  # fmt: skip
    """Layers 1..H of the ReLU pair (i, j) with the angles taken from carried defects (module docstring).

    Parameters
    ----------
    X : (n, channels, p) float64
        Inputs, pixels flattened.
    i, j : int
        The pair (i != j).
    neighbours : (p, Q) int64
        Patch table (-1 in the padding).
    scale, branch : float
        c_sigma and s_H.
    variances, means, offsets : (H, n, p) float64
        ``C^(h)_ii[s, s]``, ``mu^(h)[s]``, ``b^(h)[s]`` per point.
    single : (H, n, p) int64
        Receptive-field signatures (exactly parallel pixels keep their zero sine).
    k_diag : (p,) float64
        Out: ``K^(H)_ij[s, s]``.
    cov, edot : (H, p) float64
        Out: ``C^(h)_ij[s, s]`` and ``Edot^(h)[s, s]``.
    scratch : (11, p) float64
        Work space.
    """
    channels = X.shape[1]
    p = X.shape[2]
    depth = variances.shape[0]
    defect = scratch[0]  # per pixel: the input defect, then the centred parts' defect
    pre = scratch[1]  # the pre-activation defect D
    root_i = scratch[2]  # component norms: the input pixels', then sqrt(n^(h)) of the centred parts
    root_j = scratch[3]
    centred_i = scratch[4]  # n^(h)
    centred_j = scratch[5]
    inv_i = scratch[6]  # 1 / sqrt(a) of the pre-activations
    inv_j = scratch[7]
    branch_i = scratch[8]  # s_H sqrt(V a): norm of the new branch's centred part
    branch_j = scratch[9]
    zeros = scratch[10]
    zeros[:] = 0.0
    for t in range(p):
        a = 0.0
        b = 0.0
        c = 0.0
        for ch in range(channels):
            a += X[i, ch, t] * X[i, ch, t]
            b += X[j, ch, t] * X[j, ch, t]
            c += X[i, ch, t] * X[j, ch, t]
        k_diag[t] = c
        root_i[t] = math.sqrt(a)
        root_j[t] = math.sqrt(b)
        scale_i = 1.0 / root_i[t] if a > 0.0 else 0.0
        scale_j = 1.0 / root_j[t] if b > 0.0 else 0.0
        distance = 0.0
        for ch in range(channels):
            step = X[i, ch, t] * scale_i - X[j, ch, t] * scale_j
            distance += step * step
        defect[t] = 0.5 * root_i[t] * root_j[t] * distance
    for h in range(depth):
        a_i = variances[h, i]
        a_j = variances[h, j]
        _inverse_roots(a_i, inv_i)
        _inverse_roots(a_j, inv_j)
        # The components' mean parts: none at the input (zeros), b^(h) after a layer.
        mean_i = offsets[h - 1, i] if h > 0 else zeros
        mean_j = offsets[h - 1, j] if h > 0 else zeros
        for s in range(p):
            scale_i = inv_i[s]
            scale_j = inv_j[s]
            c = 0.0
            inner = 0.0
            total = 0.0
            for o in range(neighbours.shape[1]):
                t = neighbours[s, o]
                if t >= 0:
                    c += k_diag[t]
                    inner += defect[t]
                    step = root_i[t] * scale_i - root_j[t] * scale_j
                    mean_step = mean_i[t] * scale_i - mean_j[t] * scale_j
                    total += step * step + mean_step * mean_step
            cov[h, s] = c
            pre[s] = 0.5 * math.sqrt(a_i[s]) * math.sqrt(a_j[s]) * total + inner
        for s in range(p):
            c = cov[h, s]
            d = pre[s]
            si = single[h, i, s]
            sj = single[h, j, s]
            aligned = si >= 0 and (si == sj if h > 0 else (si >> 1) == (sj >> 1))
            sine = 0.0 if aligned else math.sqrt(max(d * (math.sqrt(a_i[s]) * math.sqrt(a_j[s]) + c), 0.0))
            theta = atan2_upper(sine, c)
            angle = math.pi - theta
            ess = _INV_TWO_PI * (sine + angle * c)
            edd = _INV_TWO_PI * angle
            centred_defect = _INV_TWO_PI * (math.pi * d - (sine - theta * c))
            if h == 0:
                k_diag[s], edot[0, s] = layer_update(0, scale, branch, ess, edd, 0.0, 0.0, 0.0, 0.0, 0.0)
                defect[s] = scale * centred_defect
                centred_i[s] = scale * _CENTRED * a_i[s]
                centred_j[s] = scale * _CENTRED * a_j[s]
            else:
                k_diag[s], edot[h, s] = layer_update(h, scale, branch, ess, edd, offsets[h - 1, i, s],
                                                     means[h, j, s], means[h, i, s], offsets[h - 1, j, s],
                                                     k_diag[s])  # fmt: skip
                defect[s] += branch * branch * centred_defect
                centred_i[s] += branch * branch * _CENTRED * a_i[s]
                centred_j[s] += branch * branch * _CENTRED * a_j[s]
                branch_i[s] = branch * math.sqrt(_CENTRED * a_i[s])
                branch_j[s] = branch * math.sqrt(_CENTRED * a_j[s])
        if h > 0:
            # The centred part of pixel s is (old centred part, new branch's): add the gap of the two norms.
            _inverse_roots(centred_i, inv_i)
            _inverse_roots(centred_j, inv_j)
            for s in range(p):
                step1 = root_i[s] * inv_i[s] - root_j[s] * inv_j[s]
                step2 = branch_i[s] * inv_i[s] - branch_j[s] * inv_j[s]
                defect[s] += 0.5 * math.sqrt(centred_i[s]) * math.sqrt(centred_j[s]) * (step1 * step1 + step2 * step2)
        for s in range(p):
            root_i[s] = math.sqrt(centred_i[s])
            root_j[s] = math.sqrt(centred_j[s])
