"""Gradient-descent dynamics (``ntkgd.train``): exact checks at small width, and the theory at large width.

1. Every tracked quantity equals an independent recomputation: GD written with
   ``jax.grad`` of the plainly written forward pass of ``test_empirical``,
   the Grams from ``jax.jacobian`` of that pass, all from the same initial
   weights (``network_weights``), at a few steps.
2. The NTK it tracks is the matrix of the first-order dynamics: one GD step
   moves ``u`` by ``-eta G(0) (u - y)`` to second order, and at large width the
   whole run follows the linearised dynamics.
3. The theory (docs/math.md §6): at large width on a tiny problem the loss stays
   below ``(1 - eta lambda_0 / 2)^k L(0)``, and the NTK moves less as the width
   grows (a trend over widths and seeds, docs/math.md §9b).
"""

import math

import numpy as np
import pytest

import ntkgd
from ntkgd.experiments._fits import fit_slope
from ntkgd.finite._training import DIVERGENCE_FACTOR, default_lr
from ntkgd.finite._empirical import network_weights

from .helpers import unit_sphere
from .test_empirical import _forward, _jacobian_grams, _jnp_activation

#: (comparison, reason) -> tolerance, as max |diff| <= tol * max |reference|.
TOLERANCES = {
    # Same weights, same float64 arithmetic, a few GD steps: structured
    # gradients and Grams vs jax.grad / jax.jacobian of a plainly written net.
    # Measured <= 1.5e-15 (dense cases: u, ||dG||_2, lambda_min, ||dW||_F); about 100x that, for other
    # BLAS kernels, vector widths and thread counts.
    "recomputation": 2e-13,
    # One GD step of size eta against its first-order prediction -eta G(0) r:
    # the remainder is second order in eta (smooth activation, m = 2048).
    # Measured 9.8e-5 relative to ||eta G(0) r||; a wrong factor (1/n, 2) gives O(1).
    "first-order": 1e-3,
}


def _close(actual, expected, tol, what):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.abs(expected).max()), np.finfo(float).tiny)  # relative, also for small entries
    error = float(np.abs(actual - expected).max())
    assert error <= tol * scale, f"{what}: max |diff| = {error:.2e} > {tol:.0e} * {scale:.3g}"


# --------------------------------------------------------------------------- independent recomputation


def _pre_activations(arch, weights, X):
    """g^(h) = W^(h) in^(h) for each hidden layer of a dense net, in numpy, shapes (n, m)."""
    sigma = {"relu": lambda z: np.maximum(z, 0.0)}[arch.act.name]
    m = weights["W1"].shape[0]
    scale = 1.0 if isinstance(arch, ntkgd.TwoLayer) else arch.act.c_sigma
    pre, h = [], X
    for level in range(1, arch.depth + 1):
        g = h @ weights[f"W{level}"].T
        pre.append(g)
        if isinstance(arch, ntkgd.ResNet) and level > 1:
            h = h + arch.c_res / (arch.depth * math.sqrt(m)) * sigma(g)
        else:
            h = math.sqrt(scale / m) * sigma(g)
    return pre


def _independent_run(arch, X, y, weights, lr, steps):
    """GD by jax.grad of test_empirical's forward pass; per step: weights, u, per-group Grams."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import enable_x64

    sigma = _jnp_activation(arch.act.name)
    trained = [f"W{h}" for h in range(1, arch.depth + 1)] + ([] if isinstance(arch, ntkgd.TwoLayer) else ["a"])
    history = []
    current = {k: np.array(v) for k, v in weights.items()}
    with enable_x64():

        def loss(p, fixed):
            u = jax.vmap(lambda x: _forward(arch, sigma, {**fixed, **p}, x))(jnp.asarray(X))
            return 0.5 * jnp.sum((u - y) ** 2), u

        grad = jax.grad(loss, has_aux=True)
        for _ in range(steps + 1):
            p = {k: jnp.asarray(current[k]) for k in trained}
            fixed = {k: jnp.asarray(v) for k, v in current.items() if k not in trained}
            g, u = grad(p, fixed)
            grams, _ = _jacobian_grams(arch, sigma, current, X)
            history.append({"weights": {k: v.copy() for k, v in current.items()}, "u": np.asarray(u), "grams": grams})
            current = {**current, **{k: current[k] - lr * np.asarray(g[k]) for k in trained}}
    return history


RECOMPUTE_CASES = [
    (ntkgd.TwoLayer("relu"), (6, 4)),
    (ntkgd.FullyConnected(2, "relu"), (6, 4)),
    (ntkgd.FullyConnected(2, "erf"), (5, 3)),
    (ntkgd.ResNet(3, "relu", c_res=1.0), (5, 4)),
    pytest.param(ntkgd.ConvResNet(2, "softplus", c_res=0.5, patch=3), (4, 2, 5), marks=pytest.mark.slow),
]


# Three steps of a fixed lr = 0.3 check bookkeeping, not convergence; for some specs it exceeds 2 / lambda_max.
@pytest.mark.filterwarnings("ignore:train. lr = .* exceeds 2 / lambda_max:RuntimeWarning")
@pytest.mark.parametrize("arch, shape", RECOMPUTE_CASES, ids=lambda v: str(v) if isinstance(v, tuple) else None)
def test_tracked_quantities_equal_an_independent_recomputation(arch, shape, rng):
    X = rng.standard_normal(shape)
    X /= np.linalg.norm(X.reshape(shape[0], -1), axis=1).reshape((-1,) + (1,) * (len(shape) - 1))
    y = rng.standard_normal(shape[0])
    width, steps, lr = 24, 3, 0.3
    t = ntkgd.train(arch, X, y, width=width, steps=steps, lr=lr, seed=3, track_every=1)
    history = _independent_run(arch, X, y, network_weights(arch, X.shape, width, 3), lr, steps)
    tol = TOLERANCES["recomputation"]

    assert t.steps.tolist() == list(range(steps + 1)) and t.layer_names[0] == "W1"
    depth = arch.depth
    papers = [h["grams"][depth - 1] for h in history]
    ntks = [sum(h["grams"]) for h in history]
    for k, record in enumerate(history):
        _close(t.u[k], record["u"], tol, f"u({k})")
        _close(t.loss[k], 0.5 * np.sum((record["u"] - y) ** 2), tol, f"L({k})")
        _close(t.loss_every_step[k], t.loss[k], tol, f"L({k}) every step")
        _close(t.gram_change.paper[k], np.abs(np.linalg.eigvalsh(papers[k] - papers[0])).max(), tol, "||dG^(H)||_2")
        _close(t.gram_change.ntk[k], np.abs(np.linalg.eigvalsh(ntks[k] - ntks[0])).max(), tol, "||dG||_2")
        rel = np.linalg.norm(ntks[k] - ntks[0]) / np.linalg.norm(ntks[0])
        _close(t.gram_change_rel.ntk[k], rel, tol, "relative Frobenius NTK change")
        _close(t.lambda_min.paper[k], np.linalg.eigvalsh(papers[k])[0], tol, "lambda_min(G^(H))")
        _close(t.lambda_min.ntk[k], np.linalg.eigvalsh(ntks[k])[0], tol, "lambda_min(G)")
        moved = {name: record["weights"][name] - history[0]["weights"][name] for name in t.layer_names}
        _close(t.weight_change[k], [np.linalg.norm(moved[name]) for name in t.layer_names], tol, "||W(k) - W(0)||_F")
        rows = [np.linalg.norm(moved[f"W{h}"].reshape(width, -1), axis=1).max() for h in range(1, depth + 1)]
        _close(t.max_row_change[k], rows, tol, "max_r ||w_r(k) - w_r(0)||")
        if t.pattern_change is not None:
            now = _pre_activations(arch, record["weights"], X)
            start = _pre_activations(arch, history[0]["weights"], X)
            flips = [np.mean((g > 0) != (g0 > 0)) for g, g0 in zip(now, start)]
            assert t.pattern_change[k].tolist() == pytest.approx(flips, abs=1e-15)  # counts / (n m), summed in another order
    _close(t.init_ntk, ntks[0], tol, "G(0)")
    _close(t.init_paper, papers[0], tol, "G^(H)(0)")
    assert t.pattern_change is None if arch.act.name != "relu" else t.pattern_change.shape == (steps + 1, depth)
    expected = ("a",) if arch.trains_output_layer else ()
    assert t.layer_names == tuple(f"W{h}" for h in range(1, depth + 1)) + expected


def test_same_network_as_empirical_gram(rng):
    X, y = unit_sphere(rng, 7, 5), rng.standard_normal(7)
    arch = ntkgd.FullyConnected(2, "softplus")
    t = ntkgd.train(arch, X, y, width=64, steps=0, seed=5)
    g = ntkgd.empirical_gram(arch, X, width=64, seed=5)
    _close(t.init_ntk, g.ntk, 1e-12, "G(0) vs empirical_gram")
    _close(t.init_paper, g.paper, 1e-12, "G^(H)(0) vs empirical_gram")
    assert t.steps.tolist() == [0] and t.loss_every_step.shape == (1,)


def test_arrays_and_bookkeeping(rng):
    X, y = unit_sphere(rng, 6, 4), rng.standard_normal(6)
    arch = ntkgd.TwoLayer("relu")
    t = ntkgd.train(arch, X, y, width=128, steps=25, track_every=10, seed=1)
    assert t.steps.tolist() == [0, 10, 20, 25]
    assert t.loss_every_step.shape == (26,)
    _close(t.loss, t.loss_every_step[t.steps], 1e-12, "loss at the tracked steps")
    exact = ntkgd.analytic_gram(arch, X)
    lambda_0 = np.linalg.eigvalsh(exact.paper)[0]
    assert t.lambda_0 == pytest.approx(lambda_0, rel=1e-12)
    assert t.lr == pytest.approx(default_lr(exact.ntk), rel=1e-12) and t.lr_source.startswith("default")
    _close(t.bound, (1 - t.lr * lambda_0 / 2) ** t.steps * t.loss[0], 1e-12, "bound")
    _close(t.bound_every_step[t.steps], t.bound, 1e-12, "bound every step")
    assert t.gram_change.paper[0] == 0 and t.weight_change[0].tolist() == [0.0]
    assert t.u.shape == t.u_linear.shape == t.u_linear_init.shape == (4, 6)
    _close(t.u_linear[0], t.u[0], 1e-12, "the linear prediction starts at u(0)")
    summary = t.summary()
    assert summary["steps_done"] == 25 and summary["loss_final"] == t.loss[-1]
    assert set(t.arrays()) >= {"loss", "gram_change_ntk", "pattern_change", "u_linear"}
    given = ntkgd.train(arch, X, y, width=128, steps=2, lr=0.125, analytic=exact)
    assert given.lr == 0.125 and given.lr_source == "given"


def test_the_shape_whose_pattern_change_llvm_could_not_compile_trains():
    """n = 16, m = 32: one fused reduction per layer made XLA's LLVM backend run for minutes (depth 8 never
    started). In a subprocess, so that a regression fails after 300 s (about 60x the time it takes) rather than
    hanging the suite."""
    import subprocess
    import sys

    code = ("import numpy as np, ntkgd; X = np.random.default_rng(0).standard_normal((16, 64)); "
            "t = ntkgd.train(ntkgd.FullyConnected(8, 'tanh'), X / np.linalg.norm(X, axis=1, keepdims=True), "
            "np.ones(16), width=32, steps=3); print(t.weight_change.shape)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(2, 9)"  # tracked at steps 0 and 3; 8 hidden layers and the output layer


def test_float64_is_not_switched_on_globally(rng):
    import jax

    ntkgd.train(ntkgd.TwoLayer("relu"), unit_sphere(rng, 4, 3), rng.standard_normal(4), width=16, steps=2)
    assert not jax.config.jax_enable_x64


# --------------------------------------------------------------------------- the tracked NTK drives GD


def test_one_step_is_first_order_in_the_tracked_ntk(rng):
    """u(1) - u(0) = -eta G(0) (u(0) - y) + O(eta^2): the NTK tracked is the one GD follows (no 1/n, no factor 2)."""
    X, y = unit_sphere(rng, 8, 5), rng.standard_normal(8)
    t = ntkgd.train(ntkgd.FullyConnected(2, "softplus"), X, y, width=2048, steps=1, track_every=1, seed=0)
    predicted = -t.lr * t.init_ntk @ (t.u[0] - y)
    moved = t.u[1] - t.u[0]
    error = np.linalg.norm(moved - predicted) / np.linalg.norm(predicted)
    assert error < TOLERANCES["first-order"], error


@pytest.mark.parametrize(
    "arch, width, bound_ok",
    [
        pytest.param(ntkgd.TwoLayer("relu"), 16384, 0.05, id="two-layer-relu"),
        pytest.param(ntkgd.FullyConnected(2, "softplus"), 2048, 0.05, id="fc-softplus", marks=pytest.mark.slow),
    ],
)
def test_large_width_follows_the_linearised_dynamics(arch, width, bound_ok, rng):
    X, y = unit_sphere(rng, 8, 5), rng.standard_normal(8)
    t = ntkgd.train(arch, X, y, width=width, steps=60, track_every=5, seed=1)
    scale = np.linalg.norm(t.u[0] - y)
    own = np.max(np.linalg.norm(t.u - t.u_linear_init, axis=1)) / scale
    infinite = np.max(np.linalg.norm(t.u - t.u_linear, axis=1)) / scale
    assert own < bound_ok, own  # driven by the network's own G(0)
    assert infinite < 2 * bound_ok, infinite  # driven by the analytic NTK: G(0) differs by O(1/sqrt(m))


# --------------------------------------------------------------------------- the theory


def test_loss_stays_below_the_bound_at_large_width(rng):
    X, y = unit_sphere(rng, 8, 4), rng.standard_normal(8)
    for arch, width in ((ntkgd.TwoLayer("relu"), 8192), (ntkgd.FullyConnected(2, "softplus"), 1024)):
        t = ntkgd.train(arch, X, y, width=width, steps=120, track_every=40, seed=0)
        assert np.all(t.loss_every_step <= t.bound_every_step), arch
        # and it converges about as fast as the linearised dynamics predict (much faster than the bound)
        assert t.loss[-1] < 3 * t.loss_linear_init[-1] + 1e-12, arch
        assert t.loss[-1] < 0.1 * t.bound[-1], arch
        if isinstance(arch, ntkgd.TwoLayer):
            # H(k) stays within lambda_0 / 4 of H(0) (ICLR Lemma 3.2's conclusion). The deep nets' lambda_0 of the
            # paper's K^(H) is far smaller (1.6e-3 here), so 1024 is far below their regime for this check.
            assert t.gram_change.paper.max() < t.lambda_0 / 4, (t.gram_change.paper.max(), t.lambda_0)


@pytest.mark.parametrize(
    "arch, widths",
    [
        pytest.param(ntkgd.TwoLayer("relu"), (256, 1024, 4096), id="two-layer-relu"),
        pytest.param(ntkgd.FullyConnected(2, "relu"), (64, 256, 1024), id="fc-relu", marks=pytest.mark.slow),
    ],
)
def test_ntk_change_decreases_with_width(arch, widths, rng):
    """Lee et al.'s diagnostic: the relative NTK change after training falls with m (theory m^-1/2), over seeds."""
    X, y = unit_sphere(rng, 10, 5), rng.standard_normal(10)
    exact = ntkgd.analytic_gram(arch, X, outputs=("paper", "ntk"))
    seeds = range(3)
    change = np.array(
        [[ntkgd.train(arch, X, y, width=m, steps=40, track_every=20, seed=s, analytic=exact).gram_change_rel.ntk[-1]
          for s in seeds] for m in widths]
    )  # fmt: skip
    mean = change.mean(axis=1)
    assert np.all(mean[1:] < 0.8 * mean[:-1]), mean  # 4x the width: theory 0.5x
    fit = fit_slope(widths, change)
    assert -1.3 < fit.slope < -0.3, fit


# --------------------------------------------------------------------------- divergence


def test_divergence_is_detected_early_and_keeps_the_partial_trajectory(rng):
    X, y = unit_sphere(rng, 6, 4), rng.standard_normal(6)
    arch = ntkgd.TwoLayer("relu")
    stable = default_lr(ntkgd.analytic_gram(arch, X).ntk)
    # 3x and 6x the default still converge (the loss first rises, the NTK shrinks: the catapult phase); 20x diverges
    with pytest.raises(ntkgd.DivergenceError, match=r"diverged at step \d+.*lr = .*lower lr") as info:
        with pytest.warns(RuntimeWarning, match=r"exceeds 2 / lambda_max\(G\(0\)\)"):
            ntkgd.train(arch, X, y, width=256, steps=1000, lr=20 * stable, track_every=5)
    t = info.value.trajectory
    assert info.value.details["step"] == t.loss_every_step.size - 1 and info.value.details["lr"] == 20 * stable
    assert t.diverged and t.message == str(info.value)
    done = t.loss_every_step.size - 1
    assert done < 100  # detected early, not after 1000 steps
    assert t.loss_every_step[-1] > DIVERGENCE_FACTOR * t.loss_every_step[0]
    assert np.all(np.isfinite(t.loss_every_step[:-1])) and t.steps[-1] <= done
    assert np.all(np.isfinite(t.gram_change.ntk))
    summary = t.summary()
    assert summary["diverged"] and summary["steps_done"] == done


def test_a_loss_that_keeps_rising_is_divergence_and_a_catapult_is_not(rng, monkeypatch):
    """Slow divergence: with the overflow rule out of reach, the loss rising above L(0) for RISING_CHUNKS
    consecutive chunks is divergence; the catapult (3x the default lr: up for 4 steps, then down) is not."""
    from ntkgd.finite import _training

    X, y = unit_sphere(rng, 6, 4), rng.standard_normal(6)
    arch = ntkgd.TwoLayer("relu")
    exact = ntkgd.analytic_gram(arch, X)
    stable = default_lr(exact.ntk)
    with pytest.warns(RuntimeWarning, match="exceeds 2 / lambda_max"):
        t = ntkgd.train(arch, X, y, width=256, steps=200, lr=3 * stable, track_every=1, analytic=exact)
    assert t.loss_every_step.max() > 5 * t.loss[0] and t.loss[-1] < 1e-8 * t.loss[0]  # up, then converges
    monkeypatch.setattr(_training, "DIVERGENCE_FACTOR", 1e300)
    with pytest.raises(ntkgd.DivergenceError, match="kept rising for 5 x 1 steps") as info:
        with pytest.warns(RuntimeWarning):
            ntkgd.train(arch, X, y, width=256, steps=200, lr=20 * stable, track_every=1, analytic=exact)
    assert _training.RISING_CHUNKS - 1 <= info.value.details["step"] < 20  # caught early, long before overflow
    assert np.all(np.isfinite(info.value.trajectory.loss_every_step))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"y": np.zeros(4)}, ValueError, r"y must have shape \(5,\).*got shape \(4,\)"),
        ({"y": np.zeros((5, 2))}, ValueError, r"y must have shape \(5,\)"),
        ({"y": np.array([0, 1, np.nan, 0, 0])}, ValueError, "y contains NaN"),
        ({"y": np.array(["a"] * 5)}, TypeError, "y must hold real numbers"),
        ({"width": 0}, ValueError, "width must be an integer >= 1.*got 0"),
        ({"width": 2.5}, ValueError, "width must be an integer"),
        ({"steps": -1}, ValueError, "steps must be an integer >= 0.*got -1"),
        ({"lr": -0.1}, ValueError, "lr must be a finite number > 0.*got -0.1"),
        ({"lr": float("nan")}, ValueError, "lr must be a finite number > 0"),
        ({"seed": -2}, ValueError, "seed must be an integer >= 0.*got -2"),
        ({"track_every": 0}, ValueError, "track_every must be an integer >= 1.*got 0"),
        ({"progress": "yes"}, TypeError, "progress must be True or False"),
        ({"X": np.zeros((5, 3))}, ValueError, "all-zero row"),
        ({"X": np.ones(5)}, ValueError, "X must be a 2-D array"),
        ({"arch": "fc"}, TypeError, "arch must be one of"),
        ({"memory_limit": 1000}, ntkgd.GramTooLargeError, "train: training a width-8 network"),
    ],
)
def test_bad_input_names_the_argument(change, error, match, rng):
    args = {"arch": ntkgd.TwoLayer("relu"), "X": unit_sphere(rng, 5, 3), "y": np.zeros(5), "width": 8, "steps": 2}
    args.update(change)
    with pytest.raises(error, match=match):
        ntkgd.train(**args)


def test_analytic_for_another_problem_is_refused(rng):
    X = unit_sphere(rng, 5, 3)
    other = ntkgd.analytic_gram(ntkgd.FullyConnected(2, "relu"), X)
    with pytest.raises(ValueError, match="analytic was computed for another network"):
        ntkgd.train(ntkgd.TwoLayer("relu"), X, np.zeros(5), width=8, steps=1, analytic=other)
    # Same network and n, other inputs: refused by the inputs' digest, not only by n.
    shuffled = ntkgd.analytic_gram(ntkgd.TwoLayer("relu"), X[::-1])
    with pytest.raises(ValueError, match="other inputs.*inputs sha256"):
        ntkgd.train(ntkgd.TwoLayer("relu"), X, np.zeros(5), width=8, steps=1, analytic=shuffled)
    with pytest.raises(TypeError, match="analytic must be"):
        ntkgd.train(ntkgd.TwoLayer("relu"), X, np.zeros(5), width=8, steps=1, analytic=np.eye(5))


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"widths": []}, ValueError, r"sweep: widths must be a non-empty list of integers >= 1"),
        ({"widths": [8, 8]}, ValueError, r"sweep: widths must be distinct, got \(8, 8\)"),
        ({"seeds": [-1]}, ValueError, r"sweep: seeds must be a non-empty list of integers >= 0"),
        ({"steps": -1}, ValueError, r"sweep: steps must be an integer >= 0.*got -1"),
        ({"lr": 0.0}, ValueError, r"sweep: lr must be a finite number > 0"),
        ({"y": np.zeros(3)}, ValueError, r"sweep: y must have shape \(5,\)"),
        ({"arch": None}, TypeError, r"sweep: arch must be one of"),
    ],
)
def test_sweep_bad_input_names_the_argument(change, error, match, rng):
    from ntkgd.experiments._sweep import sweep

    args = {"arch": ntkgd.TwoLayer("relu"), "X": unit_sphere(rng, 5, 3), "y": np.zeros(5), "widths": [8],
            "seeds": [0], "steps": 1}  # fmt: skip
    args.update(change)
    with pytest.raises(error, match=match):
        sweep(**args)
