"""``train``: full-batch gradient descent on a finite-width network, tracked against the NTK theory.

The network is the one :func:`ntkgd.empirical_gram` builds (same seeds, same
weights, docs/math.md §1-§5), trained exactly as the papers train it:

    L(theta) = 1/2 sum_i (u_i - y_i)^2,        theta(k+1) = theta(k) - eta grad L(theta(k))

on every weight group for FullyConnected, ResNet and ConvResNet (``W^(1..H)``
and ``a``, Du et al. 2019) and on ``W`` alone for TwoLayer (``a_r = +-1``
fixed, Du et al. ICLR 2019). There is no 1/n anywhere (docs/math.md §10 F10).

Gradients and Grams come from one pass. For a dense layer ``g = W in`` the
per-input backward pass gives ``delta_i = du_i/dg_i`` (docs/math.md §9b), and then

    grad_W L = sum_i r_i delta_i in_i^T,        G_ij = (delta_i . delta_j)(in_i . in_j),    r = u - y,

so tracking the Gram every ``track_every`` steps costs O(n^2 m) per layer on
top of the step, never an n x #params Jacobian. On the CPU the dense products
and the update ``W - eta grad_W L`` are BLAS ``dgemm`` calls (:mod:`._blas`). ``G(k) = sum_h G^(h)(k)`` is
the matrix of the first-order dynamics ``u(k+1) - u(k) = -eta G(k) (u(k) - y)
+ O(eta^2)`` (docs/math.md §1); its m -> infinity limit is the analytic NTK Theta.

Tracked (docs/math.md §6, "proof quantities"): the loss; ``||H(k) - H(0)||_2`` and
``||H(k) - H(0)||_F / ||H(0)||_F`` for the paper's Gram ``G^(H)`` and for the
NTK ``G``; the coherent and incoherent parts of the change of ``G^(H)``
from two random halves of its neurons (:mod:`._gram_split`, docs/math.md
§6b); ``lambda_min(H(k))``; ``||W^(h)(k) - W^(h)(0)||_F`` per weight group;
``max_r ||w_r(k) - w_r(0)||_2`` per hidden layer; for ReLU the fraction
of (input, neuron) pairs whose activation pattern flipped; the theory bound
``(1 - eta lambda_0 / 2)^k L(0)`` with ``lambda_0 = lambda_min(K^(H))`` from
:func:`ntkgd.analytic_gram`; and the linearised prediction
``u_lin(k) = y + (I - eta Theta)^k (u(0) - y)``, driven by the analytic NTK
(infinite width) and by the network's own ``G(0)``.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..specs import ConvResNet, check_architecture
from ._empirical import network_plan
from ._predictions import analytic_test_gram, linear_prediction, tracked_test_predictions
from ._gram_split import half_grams, split_change, split_indices
from ._training_memory import check_training_fits, training_memory
from ._trajectory import GramSeries, Trajectory, bound
from ..core import (DivergenceError, check_int, check_step_size, check_targets, validate_network_inputs,
                    validate_paired_inputs)  # fmt: skip

__all__ = ["DIVERGENCE_FACTOR", "GramSeries", "Trajectory", "check_training_fits", "default_lr", "train",
           "training_memory"]

#: GD has diverged once the loss exceeds this many times max(L(0), ||y||^2 / 2) (or is not finite) ...
DIVERGENCE_FACTOR = 1e3
#: ... or once it has ended this many consecutive tracking chunks above L(0) and above the chunk before
#: (slow divergence: lr a little above 2 / lambda_max grows the top mode by |1 - lr lambda| > 1 per step).
RISING_CHUNKS = 5

_MAX_SEED = 2**63 - 1


# --------------------------------------------------------------------------- the network as a trainable function


@dataclass(frozen=True)
class _Net:
    """What the jitted step needs to know about a network (hashable: the jit cache key)."""

    plan: object
    conv: bool
    train_a: bool
    relu: bool
    blas: bool = False  # dense products by BLAS dgemm (._blas, the CPU backend), else by XLA's dot

    @property
    def depth(self) -> int:
        return self.plan.depth


def _forward_backward(net: _Net, params, X):
    """``(u, x, inputs, pre, deltas)`` of the network with explicit weights ``params = (Ws, a)``."""
    import jax.numpy as jnp

    Ws, a = params
    if net.conv:
        from ._conv_networks import _conv, _conv_backward, conv_backprop

        def forward(h, inp):
            return Ws[h - 1], _conv(inp, Ws[h - 1])

        def backward(h, delta, W):
            return _conv_backward(net.plan, delta, None, W, net.plan.width)

        x, inputs, pre, deltas = conv_backprop(net.plan, X, forward, backward, a)
        u = jnp.tensordot(x, a, axes=x.ndim - 1)
    else:
        from ._blas import gemm
        from ._dense_networks import dense_backprop

        def forward(h, inp):
            return Ws[h - 1], gemm(inp, Ws[h - 1], tb=True) if net.blas else inp @ Ws[h - 1].T

        def backward(h, delta, W):
            return gemm(delta, W) if net.blas else delta @ W

        x, inputs, pre, deltas = dense_backprop(net.plan, X, forward, backward, a)
        u = x @ a
    return u, x, inputs, pre, deltas


def _descend(net: _Net, params, x, inputs, deltas, r, lr):
    """``theta - lr grad L`` with ``grad L = sum_i r_i du_i/dtheta`` for every weight group (``a`` if trained).

    Dense ``grad_W L = (r * delta)^T in``; with BLAS the update is one ``dgemm``, ``W - lr (r * delta)^T in``.
    """
    import jax.numpy as jnp

    from ._blas import gemm

    Ws, a = params
    new = []
    for W, inp, delta in zip(Ws, inputs, deltas):
        weighted = delta * r.reshape((-1,) + (1,) * (delta.ndim - 1))
        if net.conv:
            from ._conv_networks import conv_weight_grad

            new.append(W - lr * conv_weight_grad(inp, weighted, W.shape))
        else:
            # after deltas[0]: it depends on every backward product delta @ W, the other reads of W (in place)
            new.append(gemm(weighted, inp, ta=True, c=W, alpha=-lr, after=deltas[:1]) if net.blas
                       else W - lr * (weighted.T @ inp))  # fmt: skip
    return tuple(new), a - lr * jnp.tensordot(r, x, axes=1) if net.train_a else a


def _layer_grams(net: _Net, x, inputs, deltas):
    if net.conv:
        from ._conv_networks import conv_layer_grams

        return conv_layer_grams(net.plan, x, inputs, deltas)
    from ._dense_networks import dense_layer_grams

    return dense_layer_grams(net.plan, x, inputs, deltas)


def _update(net: _Net, params, X, y, lr):
    """One GD step from ``params``: ``(new params, L(params), pass outputs)``."""
    u, x, inputs, pre, deltas = _forward_backward(net, params, X)
    r = u - y
    return _descend(net, params, x, inputs, deltas, r, lr), 0.5 * (r @ r), (u, x, inputs, pre, deltas)


def _measure(net: _Net, params, init, passed):
    """The tracked quantities of the current weights (everything but the host-side spectra)."""
    import jax.numpy as jnp

    Ws, a = params
    W0s, a0, pre0, halves = init  # halves: the neurons of the split's two halves (_gram_split.split_indices)
    u, x, inputs, pre, deltas = passed
    grams = _layer_grams(net, x, inputs, deltas)
    changes = [jnp.sqrt(jnp.sum((W - W0) ** 2)) for W, W0 in zip(Ws, W0s)]
    if net.train_a:
        changes.append(jnp.sqrt(jnp.sum((a - a0) ** 2)))
    rows = [jnp.max(jnp.sqrt(jnp.sum(((W - W0) ** 2).reshape(W.shape[0], -1), axis=1))) for W, W0 in zip(Ws, W0s)]
    # One reduction over a stacked (H, n * m) mask, not H fused full reductions: for n = 16, m = 32 those took
    # LLVM minutes to compile (13 s for three layers, 29 s for four; other shapes 0.2 s), and train never started.
    flips = jnp.mean(jnp.stack([((g > 0) != (g0 > 0)).reshape(-1) for g, g0 in zip(pre, pre0)]), axis=1,
                     dtype=jnp.float64)  # fmt: skip
    return {"u": u, "grams": grams, "weight_change": jnp.stack(changes), "max_row_change": jnp.stack(rows),
            "pattern_change": flips,
            "halves": (half_grams(net.plan, net.conv, inputs, deltas, halves) if halves[0].size  # width 1: no split
                       else jnp.zeros((2, *grams.shape[1:]), grams.dtype))}


@functools.lru_cache(maxsize=16)
def _chunk_fn(net: _Net, length: int) -> Callable:
    import jax

    def run(params, init, X, y, lr):
        """Measure at the current step (from the step's own pass), then take ``length`` GD steps."""
        new, first, passed = _update(net, params, X, y, lr)
        measured = _measure(net, params, init, passed)

        def body(p, _):
            p, loss, _ = _update(net, p, X, y, lr)
            return p, loss

        new, losses = jax.lax.scan(body, new, None, length=length - 1)
        return new, jax.numpy.concatenate([first[None], losses]), measured

    return jax.jit(run, donate_argnums=(0,))


@functools.lru_cache(maxsize=16)
def _measure_fn(net: _Net) -> Callable:
    import jax

    def run(params, init, X):
        passed = _forward_backward(net, params, X)
        return _measure(net, params, init, passed)

    return jax.jit(run)


@functools.lru_cache(maxsize=16)
def _outputs_fn(net: _Net) -> Callable:
    """The network's outputs on other inputs (the test points), jitted; the backward pass is dead code."""
    import jax

    return jax.jit(lambda params, X: _forward_backward(net, params, X)[0])


@functools.lru_cache(maxsize=16)
def _pre_fn(net: _Net) -> Callable:
    import jax

    return jax.jit(lambda params, X: _forward_backward(net, params, X)[3])


def default_lr(ntk: np.ndarray) -> float:
    """The default step size ``1 / lambda_max(Theta)``: half the stability limit ``2 / lambda_max`` (docs/math.md §6).

    Parameters
    ----------
    ntk : ndarray, shape (n, n)
        The analytic NTK Theta (the Gram of every trained weight group).

    Examples
    --------
    >>> import numpy as np
    >>> from ntkgd.finite._training import default_lr
    >>> default_lr(np.diag([1.0, 4.0]))
    0.25
    """
    return 1.0 / float(np.linalg.eigvalsh(ntk)[-1])


# --------------------------------------------------------------------------- setup


def _initial_params(arch, plan, X: np.ndarray, seed: int):
    """The weights of :func:`ntkgd.empirical_gram`'s network (same seed, same arrays), as jnp arrays."""
    import jax

    from ._conv_networks import materialize_conv_weights
    from ._dense_networks import materialize_dense_weights

    key = jax.random.key(seed)
    if isinstance(arch, ConvResNet):
        weights = materialize_conv_weights(plan, X.shape[1], key)
    else:
        weights = materialize_dense_weights(plan, X.shape[1], key)
    Ws = tuple(weights[f"W{h}"] for h in range(1, arch.depth + 1))
    return Ws, weights["a"]


def _analytic(arch, X, analytic):
    from ..analytic import Gram, analytic_gram, inputs_digest

    if analytic is None:
        return analytic_gram(arch, X, outputs=("paper", "ntk"))
    if not isinstance(analytic, Gram):
        raise TypeError(f"train: analytic must be the ntkgd.analytic_gram(arch, X) result or None, got {type(analytic).__name__}.")
    if analytic.cross:
        raise ValueError(
            f"train: analytic is a cross-Gram K(X, X2) of shape {analytic.shape}; training needs the square Gram of "
            "its inputs: pass ntkgd.analytic_gram(arch, X) (or None to compute it)."
        )
    if analytic.arch != arch or analytic.n != X.shape[0] or (
        analytic.inputs_sha256 is not None and analytic.inputs_sha256 != inputs_digest(X)
    ):
        raise ValueError(
            "train: analytic was computed for another network or other inputs "
            f"({analytic.arch.describe()}, n = {analytic.n}, inputs sha256 {str(analytic.inputs_sha256)[:12]}; "
            f"this call: {arch.describe()}, n = {X.shape[0]}, inputs sha256 {inputs_digest(X)[:12]}); pass "
            "ntkgd.analytic_gram(arch, X) for this arch and X."
        )
    return analytic


def _spectral(D: np.ndarray) -> float:
    values = np.linalg.eigvalsh(D)
    return float(max(abs(values[0]), abs(values[-1])))


# --------------------------------------------------------------------------- the public function


def train(
    arch,
    X,
    y,
    width: int = 1024,
    steps: int = 500,
    lr: float | None = None,
    seed: int = 0,
    track_every: int = 10,
    *,
    analytic=None,
    X_test=None,
    y_test=None,
    analytic_test=None,
    progress: bool = False,
    memory_limit: int | None = None,
) -> Trajectory:
    """Train the paper's finite-width network by full-batch gradient descent and track it against the theory.

    ``theta(k+1) = theta(k) - lr * grad L(theta(k))`` with
    ``L = 1/2 sum_i (f(theta, x_i) - y_i)^2`` (no 1/n, docs/math.md §1), from the
    weights of ``ntkgd.empirical_gram(arch, X, width, seed)``. All weight
    groups are trained for FullyConnected, ResNet and ConvResNet; only ``W``
    for TwoLayer (Du et al., ICLR 2019). The theorems (docs/math.md §6) say that
    for ``m`` large enough, with high probability,

        L(k) <= (1 - lr lambda_0 / 2)^k L(0),      lambda_0 = lambda_min(K^(H)),

    and that ``H(k)`` stays within ``lambda_0 / 4`` of ``H(0)`` while the
    weights move ``O(1/sqrt(m))`` per neuron. Every ``track_every`` steps this
    records the quantities that make those claims visible (see
    :class:`Trajectory`). Float64 throughout; the step is jitted.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
    X : array_like, shape (n, d); for ConvResNet (n, channels, pixels) or (n, channels, height, width)
        Training inputs (the paper assumes unit norm).
    y : array_like, shape (n,)
        Targets (the theorems assume ``|y_i| = O(1)``).
    width : int
        Hidden width m (channels for ConvResNet).
    steps : int
        Number of GD steps S >= 0.
    lr : float, optional
        Step size eta. Default: ``1 / lambda_max(Theta)`` of the analytic NTK
        (half the stability limit ``2 / lambda_max``), the same for every
        width and seed.
    seed : int
        Seed of the initial weights, as in :func:`ntkgd.empirical_gram`.
    track_every : int
        Record the tracked quantities every this many steps (and at the last step).
    analytic : Gram, optional
        ``ntkgd.analytic_gram(arch, X)`` (``paper`` and ``ntk``), to reuse across runs.
    X_test : array_like, shape (n_test, ...) like X, optional
        Test points: the network's outputs on them are tracked
        (``Trajectory.u_test``) beside the infinite-width predictions
        (:func:`ntkgd.predict`): the linearised network from this network's
        initial outputs, ``u_test_linear``, and the infinite-width mean,
        ``u_test_kernel``.
    y_test : array_like, shape (n_test,), optional
        Test targets, for the test errors (needs ``X_test``).
    analytic_test : Gram, optional
        ``ntkgd.analytic_gram(arch, X_test, X)`` (``ntk``), to reuse across runs.
    progress : bool
        Show a progress bar over the steps (tqdm, on stderr).
    memory_limit : int, optional
        Bytes the run may use; default 90% of the available memory.

    Returns
    -------
    Trajectory

    Raises
    ------
    DivergenceError
        The loss became non-finite or exceeded ``DIVERGENCE_FACTOR`` times
        ``max(L(0), ||y||^2 / 2)``; ``error.trajectory`` holds the run up to there.
    GramTooLargeError
        The run would not fit in ``memory_limit``.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> X = np.eye(4)
    >>> y = np.array([1.0, -1.0, 0.5, 0.0])
    >>> t = ntkgd.train(ntkgd.TwoLayer("relu"), X, y, width=2048, steps=200, track_every=50)
    >>> t.steps.tolist()
    [0, 50, 100, 150, 200]
    >>> bool(t.loss[-1] < 1e-6 * t.loss[0]) and bool(np.all(t.loss <= t.bound))
    True
    """
    started = time.perf_counter()
    check_architecture(arch, "train")
    X = validate_network_inputs(X, convolutional=arch.convolutional, owner="train")
    y = check_targets(y, X.shape[0], owner="train")
    width = check_int(width, "width", 1, "the hidden width m", owner="train")
    steps = check_int(steps, "steps", 0, "the number of GD steps", owner="train")
    seed = check_int(seed, "seed", 0, "the weight seed", maximum=_MAX_SEED, owner="train")
    track_every = check_int(track_every, "track_every", 1, "record every this many steps", owner="train")
    given_lr = check_step_size(lr, owner="train")
    if not isinstance(progress, bool):
        raise TypeError(f"train: progress must be True or False, got {progress!r}.")
    if X_test is None and (y_test is not None or analytic_test is not None):
        raise ValueError("train: y_test and analytic_test belong to test points: give X_test too.")
    if X_test is not None:
        X_test = validate_paired_inputs(X_test, X, convolutional=arch.convolutional, owner="train", name="X_test")
        if y_test is not None:
            y_test = check_targets(y_test, X_test.shape[0], owner="train", name="y_test")
    check_training_fits(arch, X, width, steps, track_every, memory_limit)

    exact = _analytic(arch, X, analytic)
    cross = None if X_test is None else analytic_test_gram(arch, X, X_test, analytic_test)
    ntk_values = np.linalg.eigvalsh(exact.ntk)
    lambda_0 = float(np.linalg.eigvalsh(exact.paper)[0])
    if given_lr is None:
        lr_used, lr_source = 1.0 / float(ntk_values[-1]), "default: 1 / lambda_max of the analytic NTK"
    else:
        lr_used, lr_source = given_lr, "given"

    with _x64():
        run = _run(arch, X, y, width, steps, lr_used, seed, track_every, progress, X_test)
    test = None if X_test is None else (cross, y_test)
    return _finish(arch, width, seed, lr_used, lr_source, y, exact, ntk_values, lambda_0, run, started, test)


def _x64():
    from jax.experimental import enable_x64

    return enable_x64()


@dataclass
class _Run:
    """What the loop collects (host side)."""

    steps: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    measured: list = field(default_factory=list)
    test_outputs: list = field(default_factory=list)
    weight_norm0: np.ndarray | None = None
    message: str | None = None
    details: dict | None = None
    stable_lr: float | None = None


def _is_relu(arch) -> bool:
    return arch.act.builtin and arch.act.name == "relu"


def _run(arch, X, y, width, steps, lr, seed, track_every, progress, X_test=None) -> _Run:
    import jax
    import jax.numpy as jnp

    from ._blas import available

    plan = network_plan(arch, X, width, keep=True)
    conv = isinstance(arch, ConvResNet)
    net = _Net(plan=plan, conv=conv, train_a=arch.trains_output_layer, relu=_is_relu(arch),
               blas=not conv and available())  # fmt: skip
    Xj, yj, lrj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(lr, dtype=jnp.float64)
    params = _initial_params(arch, plan, X, seed)
    X_test_j = None if X_test is None else jnp.asarray(X_test)

    def test_outputs(p):
        return None if X_test_j is None else np.asarray(_outputs_fn(net)(p, X_test_j), dtype=np.float64)

    pre0 = tuple(_pre_fn(net)(params, Xj))
    init = (tuple(jnp.array(W, copy=True) for W in params[0]), jnp.array(params[1], copy=True), pre0,
            tuple(jnp.asarray(rows) for rows in split_indices(width, seed)))
    record = _Run()
    norms = [float(jnp.linalg.norm(W)) for W in params[0]]
    if net.train_a:
        norms.append(float(jnp.linalg.norm(params[1])))
    record.weight_norm0 = np.asarray(norms)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"train m={width}", unit="step", leave=False, disable=None)
    loss0 = None
    done = 0
    rising = 0  # consecutive chunks that ended above L(0) and above the previous chunk's end
    try:
        while done < steps:
            length = min(track_every, steps - done)
            outputs = test_outputs(params)  # before the chunk: its parameters are donated to it
            params, losses, measured = _chunk_fn(net, length)(params, init, Xj, yj, lrj)
            losses = np.asarray(losses, dtype=np.float64)
            measured = jax.tree_util.tree_map(np.asarray, measured)
            if all(np.isfinite(value).all() for value in measured.values()):  # measured at step `done`
                record.steps.append(done)
                record.measured.append(measured)
                record.test_outputs.append(outputs)
            if loss0 is None:
                loss0 = float(losses[0])
                limit = DIVERGENCE_FACTOR * max(loss0, 0.5 * float(y @ y), np.finfo(np.float64).tiny)
                record.stable_lr = 2.0 / float(np.linalg.eigvalsh(record.measured[0]["grams"].sum(axis=0))[-1])
                if lr > record.stable_lr:
                    warnings.warn(
                        f"train: lr = {lr:.4g} exceeds 2 / lambda_max(G(0)) = {record.stable_lr:.4g}, the stability "
                        "limit of the linearised dynamics; gradient descent will likely diverge.",
                        RuntimeWarning, stacklevel=3,
                    )  # fmt: skip
            previous_end = record.losses[-1][-1] if record.losses else loss0
            bad = np.flatnonzero(~np.isfinite(losses) | (losses > limit))
            rising = rising + 1 if losses[-1] > max(loss0, previous_end) else 0
            if bad.size or rising >= RISING_CHUNKS:
                first = int(bad[0]) if bad.size else length - 1
                record.losses.append(losses[: first + 1])
                k = done + first
                reason = (
                    f"loss {losses[first]:.3g} > {DIVERGENCE_FACTOR:.0e} x max(L(0), ||y||^2/2) = {limit:.3g}"
                    if bad.size else
                    f"the loss rose above L(0) = {loss0:.3g} and kept rising for {RISING_CHUNKS} x {track_every} "
                    f"steps, to {losses[first]:.3g}"
                )  # fmt: skip
                record.details = {"step": k, "loss": float(losses[first]), "threshold": limit, "lr": lr,
                                  "stable_lr": record.stable_lr, "reason": reason}  # fmt: skip
                record.message = (
                    f"train: gradient descent diverged at step {k}: {reason}, with lr = {lr:.4g}. The linearised "
                    f"dynamics are stable only for lr < 2 / lambda_max(G(0)) = {record.stable_lr:.4g}; lower lr, "
                    "or pass lr=None for 1 / lambda_max of the analytic NTK. The trajectory up to here is in "
                    "error.trajectory."
                )
                break
            record.losses.append(losses)
            done += length
            if bar is not None:
                bar.update(length)
        if record.message is None:
            measured = _measure_fn(net)(params, init, Xj)
            record.steps.append(done)
            record.measured.append(jax.tree_util.tree_map(np.asarray, measured))
            record.test_outputs.append(test_outputs(params))
            final = 0.5 * float(np.sum((record.measured[-1]["u"] - y) ** 2))
            record.losses.append(np.asarray([final]))
            if record.stable_lr is None:  # steps = 0: G(0) is this measurement
                record.stable_lr = 2.0 / float(np.linalg.eigvalsh(record.measured[0]["grams"].sum(axis=0))[-1])
    finally:
        if bar is not None:
            bar.close()
    return record


def _finish(arch, width, seed, lr, lr_source, y, exact, ntk_values, lambda_0, run: _Run, started,
            test=None) -> Trajectory:  # fmt: skip
    depth = arch.depth
    measured = run.measured
    steps = np.asarray(run.steps, dtype=np.int64)
    loss_every_step = np.concatenate(run.losses) if run.losses else np.empty(0)
    u = np.stack([m["u"] for m in measured])
    loss = 0.5 * np.sum((u - y) ** 2, axis=1)
    layers = [m["grams"] for m in measured]
    papers = [grams[depth - 1] for grams in layers]
    ntks = [grams.sum(axis=0) for grams in layers]
    paper0, ntk0 = papers[0], ntks[0]
    norm_paper0, norm_ntk0 = np.linalg.norm(paper0), np.linalg.norm(ntk0)
    gram_change = GramSeries(
        paper=np.array([_spectral(P - paper0) for P in papers]), ntk=np.array([_spectral(N - ntk0) for N in ntks])
    )
    gram_change_rel = GramSeries(
        paper=np.array([np.linalg.norm(P - paper0) / norm_paper0 for P in papers]),
        ntk=np.array([np.linalg.norm(N - ntk0) / norm_ntk0 for N in ntks]),
    )
    lambda_min = GramSeries(
        paper=np.array([np.linalg.eigvalsh(P)[0] for P in papers]),
        ntk=np.array([np.linalg.eigvalsh(N)[0] for N in ntks]),
    )
    split = split_change(np.stack([m["halves"] for m in measured])) if width >= 2 else {}
    names = tuple(f"W{h}" for h in range(1, depth + 1)) + (("a",) if arch.trains_output_layer else ())
    u_test = u_test_linear = u_test_kernel = y_test = None
    if test is not None:
        cross, y_test = test
        u_test = np.stack(run.test_outputs)
        u_test_linear, u_test_kernel = tracked_test_predictions(exact, cross, lr, u, y, steps, u_test)
    trajectory = Trajectory(
        arch=arch, width=width, seed=seed, lr=lr, lr_source=lr_source, steps=steps, loss=loss,
        loss_every_step=loss_every_step, bound=bound(steps, lr, lambda_0, loss[0]),
        gram_change=gram_change, gram_change_rel=gram_change_rel, lambda_min=lambda_min, layer_names=names,
        gram_change_coherent=split.get("coherent"), gram_change_incoherent=split.get("incoherent"),
        gram_change_halves_inner=split.get("inner"),
        weight_change=np.stack([m["weight_change"] for m in measured]), weight_norm0=run.weight_norm0,
        max_row_change=np.stack([m["max_row_change"] for m in measured]),
        pattern_change=np.stack([m["pattern_change"] for m in measured]) if _is_relu(arch) else None,
        u=u, u_linear=linear_prediction(exact.ntk, lr, u[0], y, steps),
        u_linear_init=linear_prediction(ntk0, lr, u[0], y, steps), y=y, init_paper=paper0, init_ntk=ntk0,
        lambda_0=lambda_0, ntk_lambda_min=float(ntk_values[0]), ntk_lambda_max=float(ntk_values[-1]),
        init_lambda_max=2.0 / run.stable_lr, diverged=run.message is not None, u_test=u_test,
        u_test_linear=u_test_linear, u_test_kernel=u_test_kernel, y_test=y_test,
        message=run.message, seconds=time.perf_counter() - started,
    )  # fmt: skip
    if run.message is not None:
        raise DivergenceError(run.message, trajectory, run.details)
    return trajectory
