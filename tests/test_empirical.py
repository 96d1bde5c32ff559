"""Finite-width Grams (``ntkgd.empirical_gram``): exact checks at small width, and the m -> infinity limit.

Three independent checks (docs/math.md §9, §9b):

1. The Grams by structure equal Grams from ``jax.jacobian`` of a plainly
   written forward pass (below; explicit patch extraction for convolutions,
   not ``lax.conv``), contracted per weight group, with the same weights.
2. The FC and ResNet Grams equal neural-tangents' ``empirical_ntk_fn``
   (Jacobian contraction) of the stax network with the same weights.
3. The limit: the error against ``ntkgd.analytic_gram`` falls with width. The
   trend is asserted over widths and seeds (docs/math.md §9b), never one tolerance.
"""

import math

import numpy as np
import pytest

import ntkgd
from ntkgd.finite import _empirical

from .helpers import unit_sphere

#: (comparison, reason) -> tolerance, as max |diff| <= tol * max |reference|.
TOLERANCES = {
    # Same weights, same float64 arithmetic, different contraction order:
    # backprop by structure vs materialised Jacobians. Measured <= 3e-15; 100x that
    # for other BLAS kernels, vector widths and thread counts.
    "jacobian": 3e-13,
    # Same, against neural-tangents' Jacobian contraction of the stax network.
    # Measured <= 2e-15; 100x that.
    "neural-tangents": 2e-13,
    # Blocked weight generation vs one block: identical weights, matmuls
    # summed in a different order. Measured <= 1e-15; 100x that.
    "blocking": 1e-13,
}


def _close(actual, expected, tol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == np.float64 and actual.shape == expected.shape, what
    scale = max(float(np.abs(expected).max()), np.finfo(float).tiny)  # relative, also for small entries
    error = float(np.abs(actual - expected).max())
    assert error <= tol * scale, f"{what}: max |diff| = {error:.2e} > {tol:.0e} * {scale:.3g}"


# --------------------------------------------------------------------------- the independent forward passes


def _jnp_activation(name):
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import erf

    return {"relu": lambda z: jnp.maximum(z, 0.0), "erf": erf, "tanh": jnp.tanh, "softplus": jax.nn.softplus}[name]


def _patches(x, q):
    """phi(x) of docs/math.md §4 by explicit zero padding and slicing: (c, *sp) -> (c, *sp, q[, q])."""
    import jax.numpy as jnp

    r = (q - 1) // 2
    if x.ndim == 2:
        xp = jnp.pad(x, ((0, 0), (r, r)))
        return jnp.stack([xp[:, a : a + x.shape[1]] for a in range(q)], axis=-1)
    xp = jnp.pad(x, ((0, 0), (r, r), (r, r)))
    rows = [jnp.stack([xp[:, a : a + x.shape[1], b : b + x.shape[2]] for b in range(q)], axis=-1) for a in range(q)]
    return jnp.stack(rows, axis=-2)


def _forward(arch, sigma, params, x):
    """u(x) for one input, written straight from docs/math.md §2-§5."""
    import jax.numpy as jnp

    depth = arch.depth
    m = params["W1"].shape[0]
    if isinstance(arch, ntkgd.ConvResNet):

        def layer(W, inp):
            P = _patches(inp, arch.patch)
            spec = "oca,cla->ol" if inp.ndim == 2 else "ocab,chwab->ohw"
            return jnp.einsum(spec, W, P)

        h = math.sqrt(arch.act.c_sigma / m) * sigma(layer(params["W1"], x))
        for level in range(2, depth + 1):
            h = h + arch.c_res / (depth * math.sqrt(m)) * sigma(layer(params[f"W{level}"], h))
        return jnp.sum(params["a"] * h)
    scale = 1.0 if isinstance(arch, ntkgd.TwoLayer) else arch.act.c_sigma
    h = math.sqrt(scale / m) * sigma(params["W1"] @ x)
    for level in range(2, depth + 1):
        branch = sigma(params[f"W{level}"] @ h)
        if isinstance(arch, ntkgd.ResNet):
            h = h + arch.c_res / (depth * math.sqrt(m)) * branch
        else:
            h = math.sqrt(scale / m) * branch
    return params["a"] @ h


def _jacobian_grams(arch, sigma, weights, X):
    """Per-weight-group Grams from jax.jacobian: [G^(1), ..., G^(H), G^(H+1) (a, if trained)] and x^(H) . x^(H)."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import enable_x64

    with enable_x64():
        params = {k: jnp.asarray(v) for k, v in weights.items()}
        trained = [f"W{h}" for h in range(1, arch.depth + 1)]
        if not isinstance(arch, ntkgd.TwoLayer):
            trained.append("a")

        def u(p, x):
            return _forward(arch, sigma, {**params, **p}, x)

        jac = jax.vmap(jax.jacobian(u), in_axes=(None, 0))({k: params[k] for k in trained}, jnp.asarray(X))
        grams = []
        for name in trained:
            J = np.asarray(jac[name]).reshape(len(X), -1)
            grams.append(J @ J.T)
        if isinstance(arch, ntkgd.TwoLayer):
            hidden = np.asarray(jax.vmap(lambda x: sigma(params["W1"] @ x))(jnp.asarray(X))) / math.sqrt(
                params["W1"].shape[0]
            )
            return grams, hidden @ hidden.T
        return grams, grams[-1]


JACOBIAN_CASES = [
    (ntkgd.TwoLayer("relu"), (6, 4)),
    (ntkgd.FullyConnected(1, "softplus"), (6, 4)),
    (ntkgd.FullyConnected(3, "relu"), (6, 4)),
    (ntkgd.FullyConnected(2, "erf"), (6, 4)),
    (ntkgd.ResNet(4, "relu", c_res=0.5), (6, 4)),
    (ntkgd.ResNet(3, "tanh", c_res=1.0), (6, 4)),
    (ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3), (5, 2, 7)),
    (ntkgd.ConvResNet(2, "softplus", c_res=0.5, patch=1), (4, 3, 5)),
    # 2-D images: 11 s of JAX compilation, slow; the 1-D cases above stay fast.
    pytest.param(ntkgd.ConvResNet(2, "relu", c_res=1.0, patch=3), (4, 2, 4, 3), marks=pytest.mark.slow),
]


def _case_id(value):
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    spec = value.describe()
    parts = [spec["arch"], spec["activation"], f"H{value.depth}"]
    return "-".join(parts + ([f"q{value.patch}"] if "patch" in spec else []))


@pytest.mark.parametrize("arch,shape", JACOBIAN_CASES, ids=_case_id)
def test_equals_jacobian_grams(arch, shape, rng):
    width = 12
    X = rng.standard_normal(shape)
    X /= np.sqrt((X**2).reshape(len(X), -1).sum(axis=1)).reshape(-1, *([1] * (X.ndim - 1)))
    g = ntkgd.empirical_gram(arch, X, width=width, seed=3)
    weights = _empirical.network_weights(arch, X.shape, width, 3)
    expected, nngp = _jacobian_grams(arch, _jnp_activation(arch.act.name), weights, X)
    assert len(g.layers) == len(expected)
    for h, (actual, reference) in enumerate(zip(g.layers, expected), start=1):
        _close(actual, reference, TOLERANCES["jacobian"], f"G^({h})")
    _close(g.paper, expected[arch.depth - 1], TOLERANCES["jacobian"], "paper")
    _close(g.ntk, sum(expected), TOLERANCES["jacobian"], "ntk")
    _close(g.nngp, nngp, TOLERANCES["jacobian"], "nngp")


def test_user_jax_activation_equals_jacobian(rng):
    import jax.numpy as jnp

    act = ntkgd.activation(lambda z: jnp.sin(z) + 0.5 * z, name="sin+z/2")
    arch = ntkgd.ResNet(2, act, c_res=1.0)
    X = unit_sphere(rng, 5, 3)
    g = ntkgd.empirical_gram(arch, X, width=10, seed=1)
    weights = _empirical.network_weights(arch, X.shape, 10, 1)
    expected, _ = _jacobian_grams(arch, lambda z: jnp.sin(z) + 0.5 * z, weights, X)
    _close(g.ntk, sum(expected), TOLERANCES["jacobian"], "ntk")


# --------------------------------------------------------------------------- neural-tangents


def _stax_network(arch, d, m):
    """The stax network of docs/math.md §7 with hidden width m (ReLU ResNet: scales moved inside the ReLU)."""
    from ntkgd.analytic._nt import _import_neural_tangents

    _, _, stax = _import_neural_tangents()
    A = {"relu": stax.Relu, "erf": stax.Erf}[arch.act.name]()
    if isinstance(arch, ntkgd.FullyConnected):
        layers = [stax.Dense(m, W_std=math.sqrt(d), b_std=None, parameterization="ntk"), A]
        for _ in range(arch.depth - 1):
            layers += [stax.Dense(m, W_std=math.sqrt(arch.scale), b_std=None, parameterization="ntk"), A]
        layers.append(stax.Dense(1, W_std=math.sqrt(arch.scale), b_std=None, parameterization="ntk"))
        return stax.serial(*layers)
    # relu(s W x) = s relu(W x) for s > 0: the branch c_res/(H sqrt m) relu(W x) is Dense(W_std = c_res/H), Relu.
    first = stax.Dense(m, W_std=math.sqrt(arch.scale * d / m), b_std=None, parameterization="ntk")
    branch = stax.serial(stax.Dense(m, W_std=arch.branch_scale, b_std=None, parameterization="ntk"), stax.Relu())
    block = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), branch), stax.FanInSum())
    out = stax.Dense(1, W_std=math.sqrt(m), b_std=None, parameterization="ntk")
    return stax.serial(first, stax.Relu(), *([block] * (arch.depth - 1)), out)


def _stax_params(arch, params_template, weights):
    """Put our weights into stax's parameter tree (Dense W is (in, out))."""
    import jax

    dense = [weights[f"W{h}"].T for h in range(1, arch.depth + 1)] + [weights["a"][:, None]]
    leaves, treedef = jax.tree_util.tree_flatten(params_template)
    assert len(leaves) == len(dense), "one W per Dense, no biases"
    assert all(leaf.shape == w.shape for leaf, w in zip(leaves, dense))
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(w) for w in dense]), treedef


@pytest.mark.parametrize(
    "arch",
    [ntkgd.FullyConnected(3, "relu"), ntkgd.FullyConnected(2, "erf"), ntkgd.ResNet(3, "relu", c_res=0.5)],
    ids=["fc-relu-H3", "fc-erf-H2", "resnet-relu-H3"],
)
def test_equals_neural_tangents_empirical_ntk(arch, rng):
    import jax
    from jax.experimental import enable_x64

    from ntkgd.analytic._nt import _import_neural_tangents

    _import_neural_tangents()
    import neural_tangents as nt

    n, d, m = 7, 5, 16
    X = unit_sphere(rng, n, d)
    g = ntkgd.empirical_gram(arch, X, width=m, seed=5)
    weights = _empirical.network_weights(arch, X.shape, m, 5)
    with enable_x64():
        init_fn, apply_fn, _ = _stax_network(arch, d, m)
        _, template = init_fn(jax.random.key(0), (-1, d))
        params, treedef = _stax_params(arch, template, weights)
        ntk_fn = nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=nt.NtkImplementation.JACOBIAN_CONTRACTION)
        x = jax.numpy.asarray(X)
        ntk = np.asarray(ntk_fn(x, None, params))
        _close(g.ntk, ntk, TOLERANCES["neural-tangents"], "ntk")
        leaves = jax.tree_util.tree_leaves(params)
        for h, leaf in enumerate(leaves):  # one weight group at a time: the others are constants
            others = list(leaves)

            def apply_one(p, inputs, h=h, others=others):
                return apply_fn(jax.tree_util.tree_unflatten(treedef, others[:h] + [p] + others[h + 1 :]), inputs)

            one_fn = nt.empirical_ntk_fn(apply_one, vmap_axes=0, implementation=1)
            _close(g.layers[h], np.asarray(one_fn(x, None, leaf)), TOLERANCES["neural-tangents"], f"G^({h + 1})")


# --------------------------------------------------------------------------- structure and determinism


@pytest.mark.parametrize(
    "arch,shape",
    [(ntkgd.ResNet(3, "softplus", c_res=1.0), (5, 4)), (ntkgd.ConvResNet(2, "relu", patch=3), (5, 2, 6))],
    ids=["resnet", "convresnet"],
)
def test_blocking_changes_memory_not_the_network(arch, shape, rng):
    """Regenerating weights in blocks of 3 rows (and 2 inputs per pixel-Gram block) gives the same Grams."""
    X = rng.standard_normal(shape)
    X /= np.sqrt((X**2).reshape(len(X), -1).sum(axis=1)).reshape(-1, *([1] * (X.ndim - 1)))
    width = 11  # not a multiple of the block: the last block is partly past the layer
    whole = _empirical._layer_grams(arch, X, width, 4, _empirical.network_plan(arch, X, width, keep=True))
    plan = _empirical.network_plan(arch, X, width, rows=3, keep=False, input_rows=2)
    assert not plan.keep and plan.rows == 3
    blocked = _empirical._layer_grams(arch, X, width, 4, plan)
    for h, (a, b) in enumerate(zip(blocked[0], whole[0]), start=1):
        _close(a, b, TOLERANCES["blocking"], f"G^({h})")
    _close(blocked[1], whole[1], TOLERANCES["blocking"], "nngp")


def test_seeds_are_deterministic_and_distinct(rng):
    arch = ntkgd.FullyConnected(2, "relu")
    X = unit_sphere(rng, 4, 3)
    a = ntkgd.empirical_gram(arch, X, 32, seed=7)
    b = ntkgd.empirical_gram(arch, X, 32, seed=7)
    c = ntkgd.empirical_gram(arch, X, 32, seed=8)
    big = ntkgd.empirical_gram(arch, X, 32, seed=2**62 + 1)
    assert np.array_equal(a.ntk, b.ntk)
    assert not np.allclose(a.ntk, c.ntk) and not np.allclose(a.ntk, big.ntk)


def test_fields_shapes_and_outputs(rng):
    arch = ntkgd.FullyConnected(3, "relu")
    X = unit_sphere(rng, 5, 3)
    g = ntkgd.empirical_gram(arch, X, 16, seed=0)
    assert g.backend == "jax" and g.arch == arch and g.n == 5 and g.seconds > 0
    assert len(g.layers) == 4 and all(layer.shape == (5, 5) and layer.dtype == np.float64 for layer in g.layers)
    assert np.array_equal(g.paper, g.layers[2]) and np.array_equal(g.nngp, g.layers[3])
    for layer in g.layers:  # each weight group's Gram is symmetric PSD
        np.testing.assert_allclose(layer, layer.T, rtol=0, atol=1e-14)
        assert np.linalg.eigvalsh(layer).min() > -1e-12
    two = ntkgd.empirical_gram(ntkgd.TwoLayer(), X, 16, seed=0)
    assert len(two.layers) == 1 and np.array_equal(two.ntk, two.paper)
    only = ntkgd.empirical_gram(arch, X, 16, seed=0, outputs=("paper",))
    assert only.available() == ("paper",) and np.array_equal(only.paper, g.paper)
    with pytest.raises(AttributeError, match="outputs"):
        _ = only.ntk


def test_float64_is_not_switched_on_globally(rng):
    import jax

    before = jax.config.jax_enable_x64
    ntkgd.empirical_gram(ntkgd.FullyConnected(1, "erf"), unit_sphere(rng, 3, 2), 8, seed=0)
    assert jax.config.jax_enable_x64 == before


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("width", [0, -3, 2.5, True, "64", None])
def test_bad_width(width):
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        ntkgd.empirical_gram(ntkgd.FullyConnected(2), np.eye(3), width)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.0, False, "0"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        ntkgd.empirical_gram(ntkgd.FullyConnected(2), np.eye(3), 8, seed)


def test_bad_arch_and_outputs():
    with pytest.raises(TypeError, match="arch must be one of"):
        ntkgd.empirical_gram("fc", np.eye(3), 8)
    with pytest.raises(ValueError, match="outputs must be a non-empty subset"):
        ntkgd.empirical_gram(ntkgd.FullyConnected(2), np.eye(3), 8, outputs=("kernel",))


def test_bad_inputs():
    with pytest.raises(ValueError, match="empirical_gram: X"):
        ntkgd.empirical_gram(ntkgd.FullyConnected(2), np.ones((2, 3, 4)), 8)
    with pytest.raises(ValueError, match="all-zero"):
        ntkgd.empirical_gram(ntkgd.ResNet(2), np.array([[1.0, 0.0], [0.0, 0.0]]), 8)
    with pytest.raises(ValueError, match=r"\(n, channels, pixels\)"):
        ntkgd.empirical_gram(ntkgd.ConvResNet(2), np.eye(3), 8)
    with pytest.raises(ValueError, match="NaN or inf"):
        ntkgd.empirical_gram(ntkgd.ConvResNet(2), np.full((2, 1, 3), np.nan), 8)


def test_numpy_only_activation_is_refused_clearly():
    arch = ntkgd.FullyConnected(2, ntkgd.activation(np.sin, derivative=np.cos, name="npsin"))
    with pytest.raises(TypeError, match="'npsin' cannot be traced by JAX.*jax.numpy"):
        ntkgd.empirical_gram(arch, np.eye(3), 8)


def test_memory_refusal():
    with pytest.raises(ntkgd.GramTooLargeError, match="empirical_gram: a width-65536 network"):
        ntkgd.empirical_gram(ntkgd.FullyConnected(3), np.eye(4), 65536, memory_limit=10**6)


# --------------------------------------------------------------------------- the m -> infinity limit


def _relative_errors(arch, X, widths, seeds):
    """errors[quantity] of shape (len(widths), len(seeds)): ||G_m - G_inf||_F / ||G_inf||_F."""
    exact = ntkgd.analytic_gram(arch, X)
    quantities = {"paper": exact.paper, "ntk": exact.ntk, "nngp": exact.nngp}
    quantities.update({f"G^({h})": layer for h, layer in enumerate(exact.layers, start=1)})
    errors = {name: np.empty((len(widths), len(seeds))) for name in quantities}
    for w, width in enumerate(widths):
        for s, seed in enumerate(seeds):
            g = ntkgd.empirical_gram(arch, X, width, seed)
            found = {"paper": g.paper, "ntk": g.ntk, "nngp": g.nngp}
            found.update({f"G^({h})": layer for h, layer in enumerate(g.layers, start=1)})
            for name, target in quantities.items():
                errors[name][w, s] = np.linalg.norm(found[name] - target) / np.linalg.norm(target)
    return errors


def _assert_trend(errors, widths, constant):
    """The seed-averaged error falls by a factor < 0.7 per 4x width (theory: 0.5), and sits at the §9 scale.

    The factor is the geometric mean over the sweep, (e(m_last) / e(m_first))^(1 / #steps):
    with 3 seeds of n = 10 points a single 4x step is too noisy to judge alone
    (its ratio scatters by about +-0.2 around 0.5), the whole 16x sweep is not.
    """
    steps = math.log(widths[-1] / widths[0], 4)
    for name, table in errors.items():
        mean = table.mean(axis=1)
        per_4x = (mean[-1] / mean[0]) ** (1 / steps)
        assert per_4x < 0.7, f"{name}: mean errors {np.round(mean, 4)} at m = {widths}: {per_4x:.2f}x per 4x"
        # docs/math.md §9: relative error ~ (1.5-5)/sqrt(m); `constant` bounds it from above, generously.
        assert mean[-1] < constant / math.sqrt(widths[-1]), f"{name}: {mean[-1]:.3g} at m = {widths[-1]}"


#: (arch, widths, constant): the error at the largest width must be below constant / sqrt(m).
#: Measured (n = 10, 3 seeds) constants: two-layer 1.2-2.4, FC ReLU 3.3-4.6, FC erf 1.5-2.3,
#: ResNet ReLU 2.3-4.0, ResNet softplus 1.2-2.0; per-4x factors 0.48-0.57.
LIMIT_CASES = [
    pytest.param(ntkgd.TwoLayer("relu"), (256, 1024, 4096), 8.0, id="two-layer-relu"),
    pytest.param(ntkgd.FullyConnected(3, "relu"), (256, 1024, 4096), 12.0, id="fc-relu-H3"),
    pytest.param(ntkgd.FullyConnected(2, "erf"), (256, 1024, 4096), 8.0, id="fc-erf-H2", marks=pytest.mark.slow),
    pytest.param(ntkgd.ResNet(4, "relu", c_res=1.0), (256, 1024, 4096), 10.0, id="resnet-relu-H4",
                 marks=pytest.mark.slow),  # 12 s; the ResNet's finite width is also checked against Jacobians
    pytest.param(
        ntkgd.ResNet(3, "softplus", c_res=0.5), (256, 1024, 4096), 8.0, id="resnet-softplus-H3", marks=pytest.mark.slow
    ),
]


@pytest.mark.parametrize("arch,widths,constant", LIMIT_CASES)
def test_limit_is_the_analytic_gram(arch, widths, constant, rng):
    X = unit_sphere(rng, 10, 5)
    _assert_trend(_relative_errors(arch, X, widths, seeds=(0, 1, 2)), widths, constant)


#: Measured (3 seeds, widths 64-1024) constants 0.3-2.5, per-4x factors 0.38-0.62.
CONV_LIMIT_CASES = [
    pytest.param(ntkgd.ConvResNet(3, "relu", c_res=1.0, patch=3), (6, 3, 8), id="conv1d-relu-H3",
                 marks=pytest.mark.slow),  # 12 s; the conv nets' fast tests compare with Jacobians
    pytest.param(
        ntkgd.ConvResNet(2, "softplus", c_res=0.5, patch=3),
        (5, 2, 3, 3),
        id="conv2d-softplus-H2",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("arch,shape", CONV_LIMIT_CASES)
def test_conv_limit_is_the_analytic_gram(arch, shape, rng):
    X = rng.standard_normal(shape)
    X /= np.sqrt((X**2).reshape(len(X), -1).sum(axis=1)).reshape(-1, *([1] * (X.ndim - 1)))
    widths = (64, 256, 1024)
    _assert_trend(_relative_errors(arch, X, widths, seeds=(0, 1, 2)), widths, 8.0)


@pytest.mark.parametrize("arch,shape", [JACOBIAN_CASES[i] for i in (0, 2, 4, 6)], ids=_case_id)
def test_cross_gram_equals_jacobian_cross_products(arch, shape, rng):
    """``empirical_gram(..., X2=)`` is ``J(X) J(X2)^T`` of the same network, from jax.jacobian (an independent route)."""
    width = 12
    n = shape[0]
    S = rng.standard_normal((n + 3,) + shape[1:])
    S /= np.sqrt((S**2).reshape(len(S), -1).sum(axis=1)).reshape(-1, *([1] * (S.ndim - 1)))
    S[n + 1] *= 1.7  # another norm in the columns
    X, X2 = S[:n], S[n:]
    g = ntkgd.empirical_gram(arch, X, width, 3, X2)
    assert g.cross and g.shape == (n, 3)
    weights = _empirical.network_weights(arch, X.shape, width, 3)
    expected, nngp = _jacobian_grams(arch, _jnp_activation(arch.act.name), weights, S)
    for h, (actual, reference) in enumerate(zip(g.layers, expected), start=1):
        _close(actual, reference[:n, n:], TOLERANCES["jacobian"], f"G^({h})")
    _close(g.ntk, sum(expected)[:n, n:], TOLERANCES["jacobian"], "ntk")
    _close(g.nngp, nngp[:n, n:], TOLERANCES["jacobian"], "nngp")
