"""ReLU Grams of nearly parallel and repeated inputs against a 50-digit evaluation (docs/math.md §9b).

For 1 - rho -> 0 the arc-cosine angle is ``theta ~ sqrt(2 (1 - rho))``, so an error
of one ulp in ``c = x_i . x_j`` (whose size depends on how BLAS summed it) would
become about ``sqrt(eps) ~ 1e-8`` in the Gram if the angle were taken from
``ab - c^2``. The kernels carry ``sqrt(ab) - c`` instead. Here every entry of
every Gram is compared with an mpmath evaluation of the same recursion
(docs/math.md §2, §3, §5) at 50 digits on the exact float64 inputs.

Tolerance: 1e-13 relative per entry (the issue's target). What is left is the
rounding of the float64 recursion itself: a few ulps per layer (measured below
3e-15 up to depth 10, on AMD and Intel hosts).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import ntkgd

NEAR_PARALLEL_RTOL = 1e-13
DIGITS = 50


def _relu_moments(a, b, c):
    """``(E[s(u) s(v)], E[s'(u) s'(v)])`` for ReLU, (u, v) ~ N(0, [[a, c], [c, b]]), in mpmath."""
    root = mpmath.sqrt(a * b)
    rho = min(max(c / root, mpmath.mpf(-1)), mpmath.mpf(1))
    theta = mpmath.acos(rho)
    ess = root / (2 * mpmath.pi) * (mpmath.sin(theta) + (mpmath.pi - theta) * rho)
    return ess, (mpmath.pi - theta) / (2 * mpmath.pi)


def _oracle(arch, X: np.ndarray, X2: np.ndarray) -> dict:
    """Every Gram of a ReLU two-layer / FC / ResNet on (X, X2), entry by entry, at ``DIGITS`` digits.

    Written from docs/math.md (3.1), (3.2) and §2 directly: no code shared with the kernels.
    """
    depth = arch.depth
    residual = isinstance(arch, ntkgd.ResNet)
    first_scale = mpmath.mpf(arch.scale)
    s_h = mpmath.mpf(arch.branch_scale) if residual else None
    exact = [[mpmath.mpf(float(v)) for v in row] for row in X]
    exact2 = [[mpmath.mpf(float(v)) for v in row] for row in X2]

    def dot(u, v):
        return mpmath.fsum(p * q for p, q in zip(u, v))

    def point(u):
        """Per layer: K_ii and b^(h) of one point."""
        k = [dot(u, u)]
        bs = []
        b = mpmath.mpf(0)
        for h in range(depth):
            mu = mpmath.sqrt(k[h] / (2 * mpmath.pi))
            ess = k[h] / 2
            if h == 0 or not residual:
                k.append(first_scale * ess if h == 0 else mpmath.mpf(arch.scale) * ess)
                b = mpmath.sqrt(first_scale) * mu if residual else b
            else:
                k.append(k[h] + 2 * s_h * b * mu + s_h**2 * ess)
                b = b + s_h * mu
            bs.append(b)
        return k, bs

    n, n2 = len(exact), len(exact2)
    names = [f"layer{h}" for h in range(depth + (1 if arch.trains_output_layer else 0))]
    out = {name: np.empty((n, n2)) for name in [*names, "ntk", "nngp"]}
    rows = [point(u) for u in exact]
    cols = [point(v) for v in exact2]
    for i in range(n):
        ki, bi = rows[i]
        for j in range(n2):
            kj, bj = cols[j]
            c = dot(exact[i], exact2[j])
            k_in, edots = [], []
            for h in range(depth):
                ess, edd = _relu_moments(ki[h], kj[h], c)
                mu_i = mpmath.sqrt(ki[h] / (2 * mpmath.pi))
                mu_j = mpmath.sqrt(kj[h] / (2 * mpmath.pi))
                k_in.append(c)
                if h == 0 or not residual:
                    scale = first_scale if h == 0 else mpmath.mpf(arch.scale)
                    edots.append(scale * edd)
                    c = scale * ess
                else:
                    edots.append(s_h**2 * edd)
                    c = c + s_h * (bi[h - 1] * mu_j + mu_i * bj[h - 1]) + s_h**2 * ess
            carry = [0 if (h == 0 or not residual) else 1 for h in range(depth)]
            grams = []
            for h in range(depth):
                g = k_in[h] * edots[h]
                for later in range(h + 1, depth):
                    g *= carry[later] + edots[later]
                grams.append(g)
            if arch.trains_output_layer:
                grams.append(c)
            for h, g in enumerate(grams):
                out[names[h]][i, j] = float(g)
            out["ntk"][i, j] = float(mpmath.fsum(grams))
            out["nngp"][i, j] = float(c)
    out["paper"] = out[names[depth - 1]]
    return out


def _near_parallel_inputs(d: int = 12) -> np.ndarray:
    """Pairs with 1 - rho = 1e-2 ... 1e-14, a repeat, a rescaled copy, and random points."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal(d)
    base /= np.linalg.norm(base)
    rows = [base]
    for gap in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14):
        direction = rng.standard_normal(d)
        direction -= (direction @ base) * base
        direction /= np.linalg.norm(direction)
        # Angle sqrt(2 gap) from base: 1 - rho = gap to first order.
        angle = np.sqrt(2.0 * gap)
        rows.append(np.cos(angle) * base + np.sin(angle) * direction)
    rows.append(base.copy())  # an exact repeat
    rows.append(3.0 * base)  # parallel, another norm
    other = rng.standard_normal((3, d))
    rows.extend(other / np.linalg.norm(other, axis=1, keepdims=True))
    return np.array(rows)


ARCHITECTURES = [
    pytest.param(ntkgd.TwoLayer("relu"), id="two-layer"),
    pytest.param(ntkgd.FullyConnected(3, "relu"), id="fc-H3"),
    pytest.param(ntkgd.FullyConnected(10, "relu"), id="fc-H10"),
    pytest.param(ntkgd.ResNet(4, "relu", c_res=0.5), id="resnet-H4"),
]


def _compare(gram, expected: dict, arch, what: str) -> float:
    worst = 0.0
    pairs = [("paper", gram.paper), ("ntk", gram.ntk), ("nngp", gram.nngp)]
    pairs += [(f"layer{h}", layer) for h, layer in enumerate(gram.layers)]
    for name, value in pairs:
        reference = expected[name]
        error = np.abs(value - reference) / np.abs(reference)
        worst = max(worst, float(error.max()))
        assert error.max() <= NEAR_PARALLEL_RTOL, (
            f"{what}, {arch.describe() if hasattr(arch, 'describe') else arch}: {name} off by {error.max():.2e} "
            f"relative at {np.unravel_index(error.argmax(), error.shape)}"
        )
    return worst


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_square_gram_matches_fifty_digits(arch):
    mpmath.mp.dps = DIGITS
    X = _near_parallel_inputs()
    gram = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp", "layers"))
    _compare(gram, _oracle(arch, X, X), arch, "square Gram")


@pytest.mark.parametrize("arch", ARCHITECTURES[1:3])
def test_cross_gram_matches_fifty_digits(arch):
    # Near-parallel pairs across the two sets: the rectangular block path.
    mpmath.mp.dps = DIGITS
    X = _near_parallel_inputs()
    X2 = X[::-1].copy()
    gram = ntkgd.analytic_gram(arch, X[:6], X2, outputs=("paper", "ntk", "nngp", "layers"))
    _compare(gram, _oracle(arch, X[:6], X2), arch, "cross-Gram")


def test_forward_path_matches_fifty_digits():
    # Without per-layer outputs the kernel takes the forward-accumulation path.
    mpmath.mp.dps = DIGITS
    arch = ntkgd.FullyConnected(6, "relu")
    X = _near_parallel_inputs()
    expected = _oracle(arch, X, X)
    gram = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk", "nngp"))
    for name in ("paper", "ntk", "nngp"):
        error = np.abs(getattr(gram, name) - expected[name]) / np.abs(expected[name])
        assert error.max() <= NEAR_PARALLEL_RTOL, f"{name}: {error.max():.2e}"


def test_repeated_input_is_exact_whatever_blas_summed(monkeypatch):
    # The kernel alone (analytic_gram's duplicate tie bypassed), with x_i . x_j one ulp away
    # from x_i . x_i for every pair, as a BLAS that sums the two differently gives: a repeat's
    # entry stays the diagonal value to rounding (the angle from ab - c^2 was off by ~1e-8).
    from ntkgd.analytic import _numba_dense

    true_lower_gram = _numba_dense.lower_gram

    def one_ulp_off(X, out):
        true_lower_gram(X, out)
        diagonal = np.diagonal(out).copy()
        np.nextafter(out, -np.inf, out=out)
        np.fill_diagonal(out, diagonal)
        return out

    monkeypatch.setattr(_numba_dense, "lower_gram", one_ulp_off)
    arch = ntkgd.FullyConnected(3, "relu")
    X = _near_parallel_inputs()
    paper = _numba_dense.numba_grams(arch, X, None, frozenset({"paper"}), None)["paper"]
    repeat = 8  # X[8] is X[0]
    assert abs(paper[repeat, 0] - paper[0, 0]) <= 4e-16 * paper[0, 0]
