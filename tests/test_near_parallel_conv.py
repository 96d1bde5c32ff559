"""Convolutional ReLU Grams of nearly parallel, repeated and rescaled images against a 50-digit evaluation.

For a pixel whose patch correlation has 1 - rho -> 0 the arc-cosine angle is
``theta ~ sqrt(2 (1 - rho))``, so one ulp of rounding in the patch sum ``c``
would become about ``sqrt(eps) ~ 1e-8`` in the Gram if the angle were taken from
``ab - c^2``. The conv kernels recompute such pairs carrying Cauchy-Schwarz
defects (kernels/_conv_defects.py, docs/math.md §8). Here every entry of every
Gram is compared with an mpmath evaluation of the recursion of docs/math.md §4
(on the pixel diagonal, per-layer Grams by forward tangents) at 50 digits on the
exact float64 inputs; no code is shared with the kernels.

Tolerance: 1e-13 relative per entry (issue 13's target). What is left is the
rounding of the float64 recursion itself (a few ulps per layer). The images are
nonnegative (pixel intensities, like the digits), so every Gram entry is
positive and a relative error is meaningful.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import ntkgd
from ntkgd.analytic._numba_conv import numba_conv_grams
from ntkgd.core import validate_conv_inputs

NEAR_PARALLEL_RTOL = 1e-13
DIGITS = 50
GAPS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14)


def _patches(shape, q):
    """For each pixel (row-major) the pixels of its q x q (or q) patch inside the image."""
    half = q // 2
    if len(shape) == 1:
        (p,) = shape
        return [[t for t in range(s - half, s + half + 1) if 0 <= t < p] for s in range(p)]
    height, width = shape
    return [
        [r * width + c for r in range(y - half, y + half + 1) for c in range(x - half, x + half + 1)
         if 0 <= r < height and 0 <= c < width]
        for y in range(height) for x in range(width)
    ]  # fmt: skip


def _relu(a, b, c):
    """``(E[relu(u) relu(v)], E[relu'(u) relu'(v)])``, (u, v) ~ N(0, [[a, c], [c, b]]) (docs/math.md §8)."""
    if a == 0 or b == 0:
        return mpmath.mpf(0), mpmath.mpf(1) / 4  # u or v is the constant 0; the second factor multiplies a zero
    root = mpmath.sqrt(a * b)
    theta = mpmath.acos(min(max(c / root, mpmath.mpf(-1)), mpmath.mpf(1)))
    return root * (mpmath.sin(theta) + (mpmath.pi - theta) * mpmath.cos(theta)) / (2 * mpmath.pi), (
        mpmath.pi - theta
    ) / (2 * mpmath.pi)


def _oracle(arch, X: np.ndarray, X2: np.ndarray) -> dict:
    """Every Gram of a ReLU ConvResNet on (X, X2), at ``DIGITS`` digits, from docs/math.md §4."""
    depth = arch.depth
    c_s = mpmath.mpf(arch.scale)
    s_h = mpmath.mpf(arch.branch_scale)
    patches = _patches(X.shape[2:], arch.patch)
    p = len(patches)

    def exact(Z):
        return [[[mpmath.mpf(float(v)) for v in channel.ravel()] for channel in z] for z in Z]

    def products(u, v):
        return [mpmath.fsum(cu[s] * cv[s] for cu, cv in zip(u, v)) for s in range(p)]

    def trace_patch(k):
        return [mpmath.fsum(k[t] for t in patch) for patch in patches]

    def point(u):
        """Per layer h = 1..H: the variances C^(h)_ii[s, s], mu^(h) and b^(h-1) (entering) of one point."""
        k = products(u, u)
        b = None
        layers = []
        for h in range(depth):
            a = trace_patch(k)
            mu = [mpmath.sqrt(v / (2 * mpmath.pi)) for v in a]
            layers.append((a, mu, b))
            if h == 0:
                k = [c_s * v / 2 for v in a]
                b = [mpmath.sqrt(c_s) * m for m in mu]
            else:
                k = [k[s] + 2 * s_h * b[s] * mu[s] + s_h**2 * a[s] / 2 for s in range(p)]
                b = [b[s] + s_h * mu[s] for s in range(p)]
        return layers

    rows, cols = exact(X), exact(X2)
    row_points, col_points = [point(u) for u in rows], [point(v) for v in cols]
    names = [f"layer{h}" for h in range(depth + 1)]
    out = {name: np.empty((len(rows), len(cols))) for name in [*names, "ntk"]}
    for i, u in enumerate(rows):
        for j, v in enumerate(cols):
            k = products(u, v)
            covs, edots = [], []
            for h in range(depth):
                a_i, mu_i, b_i = row_points[i][h]
                a_j, mu_j, b_j = col_points[j][h]
                c = trace_patch(k)
                moments = [_relu(a_i[s], a_j[s], c[s]) for s in range(p)]
                covs.append(c)
                if h == 0:
                    edots.append([c_s * m[1] for m in moments])
                    k = [c_s * m[0] for m in moments]
                else:
                    edots.append([s_h**2 * m[1] for m in moments])
                    k = [k[s] + s_h * (b_i[s] * mu_j[s] + mu_i[s] * b_j[s]) + s_h**2 * moments[s][0]
                         for s in range(p)]  # fmt: skip
            grams = []
            for h in range(depth):
                tangent = [edots[h][s] * covs[h][s] for s in range(p)]
                for later in range(h + 1, depth):
                    spread = trace_patch(tangent)
                    tangent = [tangent[s] + edots[later][s] * spread[s] for s in range(p)]
                grams.append(mpmath.fsum(tangent))
            grams.append(mpmath.fsum(k))
            for name, g in zip(names, grams):
                out[name][i, j] = float(g)
            out["ntk"][i, j] = float(mpmath.fsum(grams))
    out["paper"] = out[names[depth - 1]]
    out["nngp"] = out[names[depth]]
    return out


def _images(channels: int = 1, shape=(6, 6)) -> np.ndarray:
    """Nonnegative images with a zero border: a base, tilted copies with 1 - rho = GAPS (whole image), a repeat,
    a rescaled copy, a rescaled tilted copy, two single-pixel images (exactly parallel), two random images."""
    rng = np.random.default_rng(11)
    mask = np.zeros(shape)
    mask[(slice(1, -1),) * len(shape)] = 1.0

    def draw():
        return rng.uniform(0.2, 1.0, (channels, *shape)) * mask

    base = draw()
    base /= np.linalg.norm(base)
    rows = [base]
    for gap in GAPS:
        direction = rng.standard_normal(base.shape) * mask
        direction -= np.sum(direction * base) * base
        direction /= np.linalg.norm(direction)
        angle = np.sqrt(2.0 * gap)  # 1 - rho = gap to first order
        rows.append(np.cos(angle) * base + np.sin(angle) * direction)
    rows.append(base.copy())  # an exact repeat
    rows.append(3.0 * base)  # parallel, another norm
    rows.append(0.5 * rows[4])  # nearly parallel (1e-8) to the base, another norm
    for scale in (0.7, 1.9):  # one nonzero entry, the same in both: exactly parallel receptive fields
        single = np.zeros((channels, *shape))
        single[(0, *(1,) * len(shape))] = scale
        rows.append(single)
    rows.extend(draw() for _ in range(2))
    X = np.array(rows)
    assert X.min() >= 0.0
    return X


def _smallest_patch_gap(X: np.ndarray, q: int) -> float:
    """The smallest positive 1 - rho of a first-layer patch over the pairs (base, tilted copy), in mpmath."""
    patches = _patches(X.shape[2:], q)
    flat = X.reshape(X.shape[0], X.shape[1], -1)
    smallest = mpmath.inf
    for j in range(1, 1 + len(GAPS)):
        for patch in patches:
            u = [mpmath.mpf(float(flat[0, ch, t])) for t in patch for ch in range(X.shape[1])]
            v = [mpmath.mpf(float(flat[j, ch, t])) for t in patch for ch in range(X.shape[1])]
            norms = mpmath.fsum(x * x for x in u) * mpmath.fsum(y * y for y in v)
            gap = 1 - mpmath.fsum(x * y for x, y in zip(u, v)) / mpmath.sqrt(norms) if norms > 0 else 0
            if gap > 0:  # patches seeing one nonzero pixel (the corners) are exactly parallel
                smallest = min(smallest, gap)
    return float(smallest)


def _compare(grams: dict, expected: dict, depth: int, what: str) -> None:
    for name in ("paper", "ntk", "nngp", *(f"layer{h}" for h in range(depth + 1))):
        error = np.abs(grams[name] - expected[name]) / np.abs(expected[name])
        assert error.max() <= NEAR_PARALLEL_RTOL, (
            f"{what}: {name} off by {error.max():.2e} relative at {np.unravel_index(error.argmax(), error.shape)}"
        )


def _as_dict(gram) -> dict:
    out = {"paper": gram.paper, "ntk": gram.ntk, "nngp": gram.nngp}
    out.update({f"layer{h}": layer for h, layer in enumerate(gram.layers)})
    return out


CASES = [
    pytest.param(ntkgd.ConvResNet(2, "relu", c_res=1.0, patch=3), 1, (6, 6), id="H2-6x6"),
    pytest.param(ntkgd.ConvResNet(3, "relu", c_res=0.5, patch=3), 1, (6, 6), id="H3-6x6"),
    pytest.param(ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3), 2, (4, 4), id="H3-2ch-4x4"),
    pytest.param(ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3), 2, (9,), id="H3-2ch-signal9"),
]


def test_inputs_reach_the_smallest_gap():
    # The tilted copies have patch correlations with 1 - rho from about 1e-2 down to 1e-14, so the tests
    # below cover that range per pixel, not only per image.
    mpmath.mp.dps = DIGITS
    smallest = _smallest_patch_gap(_images(), 3)
    assert 0.0 < smallest <= 1e-13, smallest


@pytest.mark.parametrize("arch, channels, shape", CASES)
def test_square_gram_matches_fifty_digits(arch, channels, shape):
    mpmath.mp.dps = DIGITS
    X = _images(channels, shape)
    expected = _oracle(arch, X, X)
    gram = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp", "layers"))
    _compare(_as_dict(gram), expected, arch.depth, f"square Gram {arch}")
    # The kernel alone, without analytic_gram's copying of exact repeats: the repeat goes through the pair code.
    raw = numba_conv_grams(arch, validate_conv_inputs(X, owner="test"), None, frozenset({"ntk", "layers"}), None)
    layers = {f"layer{h}": layer for h, layer in enumerate(raw["layers"])}
    _compare({"ntk": raw["ntk"], "paper": layers[f"layer{arch.depth - 1}"], "nngp": layers[f"layer{arch.depth}"],
              **layers}, expected, arch.depth, f"kernel alone {arch}")  # fmt: skip


def test_cross_gram_matches_fifty_digits():
    # Nearly parallel pairs across the two sets: the cross-Gram tiles.
    mpmath.mp.dps = DIGITS
    arch = ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3)
    X = _images()
    X2 = X[::-1].copy()
    gram = ntkgd.analytic_gram(arch, X[:6], X2, outputs=("paper", "ntk", "nngp", "layers"))
    _compare(_as_dict(gram), _oracle(arch, X[:6], X2), arch.depth, "cross-Gram")


def test_forward_outputs_match_fifty_digits():
    # Without per-layer outputs: only ntk, paper and nngp are written.
    mpmath.mp.dps = DIGITS
    arch = ntkgd.ConvResNet(4, "relu", c_res=1.0, patch=3)
    X = _images()
    expected = _oracle(arch, X, X)
    gram = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp"))
    for name in ("paper", "ntk", "nngp"):
        error = np.abs(getattr(gram, name) - expected[name]) / np.abs(expected[name])
        assert error.max() <= NEAR_PARALLEL_RTOL, f"{name}: {error.max():.2e}"


def test_digits_with_proportional_patches_match_fifty_digits():
    # Real images: scaled to unit norm, two digits that share a stroke have patches that are exactly
    # proportional up to rounding (1 - rho ~ 1e-16); these six, of load_data("digits", n=200, seed=0),
    # are the pairs whose NTK the angle from ab - c^2 got most wrong (up to 8e-11 relative).
    mpmath.mp.dps = DIGITS
    X = ntkgd.load_data("digits", n=200, seed=0).X.reshape(200, 1, 8, 8)[[179, 142, 183, 23, 116, 171]]
    arch = ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3)
    gram = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp", "layers"))
    _compare(_as_dict(gram), _oracle(arch, X, X), arch.depth, "digits")
