"""``empirical_gram``: the Grams of one finite-width network, built exactly as the paper defines it.

The networks themselves (and the per-layer Grams by structure, docs/math.md §9b)
live in :mod:`ntkgd.finite._dense_networks` (dense) and :mod:`ntkgd.finite._conv_networks`
(convolutional); this module validates the arguments, sizes the blocks so that
memory stays O(n m + n^2 + block m), checks that it fits, and returns a
:class:`~ntkgd.Gram` with the same fields as :func:`ntkgd.analytic_gram`.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Iterable

import numpy as np

from ..analytic import OUTPUT_NAMES, Gram, inputs_digest, parse_outputs
from ..specs import ConvResNet, FullyConnected, ResNet, TwoLayer, check_architecture
from ..core import check_fits_in_memory, validate_network_inputs, validate_paired_inputs

__all__ = ["empirical_gram", "network_plan"]

#: Bytes of one block of generated weight rows. Wider layers are generated (and
#: regenerated in the backward pass) this many bytes at a time.
_BLOCK_BYTES = 64 * 2**20

#: If all weights together take at most this many bytes they are generated once
#: and kept for the backward pass (generation, not arithmetic, dominates small nets).
_KEEP_BYTES = 512 * 2**20

#: Bytes of the temporaries of one block of inputs in a conv layer's pixel Grams.
_PIXEL_BLOCK_BYTES = 256 * 2**20

#: Largest seed: jax.random.key takes a 64-bit seed.
_MAX_SEED = 2**63 - 1


def _check_width(width) -> int:
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise ValueError(f"empirical_gram: width must be an integer >= 1 (the hidden width m), got {width!r}.")
    return int(width)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"empirical_gram: seed must be an integer in [0, 2**63 - 1], got {seed!r}.")
    return int(seed)


def _rows(max_fan_in: int, width: int) -> int:
    """Weight rows generated at once: about ``_BLOCK_BYTES`` of them, at most the whole layer."""
    return max(1, min(width, _BLOCK_BYTES // (8 * max_fan_in)))


def _dense_plan(arch, d: int, width: int, rows: int | None, keep: bool | None):
    from ._dense_networks import DensePlan, jax_activation

    sigma, sigma_prime = jax_activation(arch.act, owner="empirical_gram")
    depth = arch.depth
    max_fan_in = max(d, width) if depth > 1 else d
    weight_bytes = 8 * width * (d + (depth - 1) * width + 1)
    kind = {TwoLayer: "two-layer", FullyConnected: "fc", ResNet: "resnet"}[type(arch)]
    return DensePlan(
        kind=kind,
        depth=depth,
        width=width,
        rows=_rows(max_fan_in, width) if rows is None else min(rows, width),
        keep=weight_bytes <= _KEEP_BYTES if keep is None else keep,
        sigma=sigma,
        sigma_prime=sigma_prime,
        scale=arch.scale,
        branch=arch.branch_scale if isinstance(arch, ResNet) else 0.0,
    )


def _conv_plan(arch: ConvResNet, shape: tuple, width: int, rows, keep, input_rows):
    from ._conv_networks import ConvPlan
    from ._dense_networks import jax_activation

    sigma, sigma_prime = jax_activation(arch.act, owner="empirical_gram")
    n, channels, spatial = shape[0], shape[1], tuple(shape[2:])
    taps = arch.patch ** len(spatial)
    max_fan_in = (max(channels, width) if arch.depth > 1 else channels) * taps
    weight_bytes = 8 * width * taps * (channels + (arch.depth - 1) * width)
    pixels = math.prod(spatial)
    per_input = 5 * 8 * pixels * n * pixels  # D, K, padded K, patch trace, product for one input's row
    return ConvPlan(
        depth=arch.depth,
        width=width,
        rows=_rows(max_fan_in, width) if rows is None else min(rows, width),
        keep=weight_bytes <= _KEEP_BYTES if keep is None else keep,
        sigma=sigma,
        sigma_prime=sigma_prime,
        scale=arch.scale,
        branch=arch.branch_scale,
        patch=arch.patch,
        spatial=spatial,
        input_rows=max(1, min(n, _PIXEL_BLOCK_BYTES // per_input)) if input_rows is None else min(input_rows, n),
    )


def _memory_estimate(plan, shape: tuple) -> int:
    """Bytes the computation needs at its peak, roughly: activations, Grams, weights (kept or one block)."""
    n, channels_in = shape[0], shape[1]
    spatial = getattr(plan, "spatial", ())
    pixels, taps = math.prod(spatial), getattr(plan, "patch", 1) ** len(spatial)
    depth, width = plan.depth, plan.width
    activations = (depth + 4) * n * width * pixels  # sigma'(g) of every layer, and x, e, delta, g
    grams = (depth + 4) * n * n
    if plan.keep:
        weights = width * taps * (channels_in + (depth - 1) * width)
    else:
        weights = 3 * plan.rows * taps * (max(channels_in, width) if depth > 1 else channels_in)
    pixel_blocks = 5 * getattr(plan, "input_rows", 0) * pixels * n * pixels
    return 8 * (activations + grams + weights + pixel_blocks)


def network_plan(arch, X: np.ndarray, width: int, *, rows=None, keep=None, input_rows=None):
    """The static description of ``arch``'s width-``width`` network on inputs shaped like ``X``.

    A :class:`~ntkgd.finite._dense_networks.DensePlan` or
    :class:`~ntkgd.finite._conv_networks.ConvPlan` (the jit cache key): layer
    shapes and how the weights are generated (``rows`` at a time; ``keep``
    them all, or regenerate them in the backward pass). :func:`ntkgd.train`
    uses the same plan with ``keep=True``, so it trains the network whose
    Grams :func:`empirical_gram` returns.
    """
    if isinstance(arch, ConvResNet):
        return _conv_plan(arch, X.shape, width, rows, keep, input_rows)
    return _dense_plan(arch, X.shape[1], width, rows, keep)


def _layer_grams(arch, X: np.ndarray, width: int, seed: int, plan) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Run the jitted network: (per-layer Grams, NNGP) as float64 numpy arrays."""
    import jax
    from jax.experimental import enable_x64

    from ._conv_networks import ConvPlan, conv_grams_fn
    from ._dense_networks import dense_grams_fn

    fn = conv_grams_fn(plan) if isinstance(plan, ConvPlan) else dense_grams_fn(plan)
    with enable_x64():  # float64 for this computation only; the global JAX setting is left alone
        layers, nngp = fn(jax.numpy.asarray(X, dtype=jax.numpy.float64), jax.random.key(seed))
        layers = np.asarray(layers, dtype=np.float64)
        nngp = np.asarray(nngp, dtype=np.float64)
    return tuple(layers), nngp


def empirical_gram(
    arch,
    X,
    width: int,
    seed: int = 0,
    X2=None,
    *,
    outputs: Iterable[str] | str = OUTPUT_NAMES,
    memory_limit: int | None = None,
) -> Gram:
    """Gram matrices of one finite-width network at initialisation, in float64 JAX.

    The network is built exactly as docs/math.md defines it: N(0, 1) weights, no
    biases, the paper's scalings (``sqrt(c_sigma/m)`` on FC layers and the
    ResNet's first layer, ``c_res/(H sqrt m)`` on residual branches), a trained
    N(0, 1) output layer ``a`` (TwoLayer: ``a_r = +-1`` fixed, output scale
    ``1/sqrt m``, only ``W`` trained). Each weight group's Gram
    ``G^(h)_ij = <du_i/dW^(h), du_j/dW^(h)>`` is computed by structure,
    ``(delta_i . delta_j)(in_i . in_j)`` (summed over pixel pairs for
    convolutions), never through an n x #params Jacobian. As ``width`` grows
    every field converges to :func:`ntkgd.analytic_gram`'s, with relative
    Frobenius error of order ``1/sqrt(width)`` (docs/math.md §9).

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
        The architecture spec.
    X : array_like, shape (n, d); for ConvResNet (n, channels, pixels) or (n, channels, height, width)
        Inputs, one per row (the paper assumes unit norm).
    width : int
        The hidden width m (channels, for ConvResNet).
    seed : int
        Seed of the weights, in ``[0, 2**63 - 1]``. Row ``r`` of ``W^(h)`` is
        drawn from ``fold_in(fold_in(key(seed), h), r)``, so the network does
        not depend on how it is blocked.
    X2 : array_like, shape (n2, ...) like X, optional
        A second set of inputs: every field is then the cross-Gram of the
        same network, ``G^(h)_ij = <du(x_i)/dW^(h), du(x2_j)/dW^(h)>``, of
        shape (n, n2). It is the (n, n2) block of the Grams of the stacked
        inputs ``[X; X2]`` (the weights do not depend on the inputs), which is
        how it is computed: the forward and backward passes, O((n + n2) m^2),
        dominate the (n + n2)^2 pair products.
    outputs : iterable of str
        Which of ``("paper", "ntk", "layers", "nngp")`` to return (all are
        computed; this only selects what the result holds).
    memory_limit : int, optional
        Bytes the computation may use; default 90% of the available memory.

    Returns
    -------
    Gram
        float64 (n, n) matrices: ``paper`` (the Gram of ``W^(H)`` alone, the
        finite-width ``G^(H)(0)``), ``ntk`` (the sum of every trained layer's
        Gram, ``G(0)``), ``layers`` (first layer first, the output layer last),
        ``nngp`` (``x_i^(H) . x_j^(H)``). ``backend`` is ``"jax"``. With
        ``X2``, each is (n, n2).

    Raises
    ------
    GramTooLargeError
        If the estimated peak memory exceeds ``memory_limit``.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> X = np.eye(3)
    >>> g = ntkgd.empirical_gram(ntkgd.FullyConnected(2, "relu"), X, width=64, seed=0)
    >>> g.ntk.shape, g.ntk.dtype
    ((3, 3), dtype('float64'))
    >>> bool(np.allclose(g.ntk, sum(g.layers)))
    True
    """
    check_architecture(arch, "empirical_gram")
    width = _check_width(width)
    seed = _check_seed(seed)
    wanted = frozenset(parse_outputs(outputs, owner="empirical_gram"))
    X = validate_network_inputs(X, convolutional=arch.convolutional, owner="empirical_gram")
    n = X.shape[0]
    if X2 is not None:
        X2 = validate_paired_inputs(X2, X, convolutional=arch.convolutional, owner="empirical_gram")
    points = X if X2 is None else np.concatenate([X, X2])
    start = time.perf_counter()
    plan = network_plan(arch, points, width)
    needed = _memory_estimate(plan, points.shape)
    check_fits_in_memory(
        needed,
        owner="empirical_gram",
        what=f"a width-{width} network on n = {points.shape[0]} inputs" + ("" if X2 is None else " (X and X2)"),
        limit=memory_limit,
        suggestion="Use a smaller width or fewer inputs.",
    )
    layers, nngp = _layer_grams(arch, points, width, seed, plan)
    if X2 is not None:
        layers = tuple(np.ascontiguousarray(layer[:n, n:]) for layer in layers)
        nngp = np.ascontiguousarray(nngp[:n, n:])
    values = {
        "layers": layers,
        "paper": layers[arch.depth - 1],
        "ntk": np.sum(layers, axis=0) if len(layers) > 1 else layers[0],
        "nngp": nngp,
    }
    seconds = time.perf_counter() - start
    chosen = {name: values[name] if name in wanted else None for name in OUTPUT_NAMES}
    return Gram(arch=arch, backend="jax", seconds=seconds, _values=chosen, inputs_sha256=inputs_digest(X),
                columns_sha256=None if X2 is None else inputs_digest(X2))  # fmt: skip


def network_weights(arch, input_shape: tuple, width: int, seed: int) -> dict:
    """Every weight of the network :func:`empirical_gram` builds, as float64 numpy arrays (for tests, small m).

    Keys ``"W1" .. "WH"`` (shape (m, fan_in), or (m, c_in, q[, q]) for
    ConvResNet) and ``"a"`` ((m,), or (m, *spatial)).
    """
    import jax
    from jax.experimental import enable_x64

    from ._conv_networks import materialize_conv_weights
    from ._dense_networks import materialize_dense_weights

    dummy = np.ones(input_shape)
    plan = network_plan(arch, dummy, width)
    with enable_x64():
        key = jax.random.key(seed)
        if isinstance(arch, ConvResNet):
            weights = materialize_conv_weights(plan, input_shape[1], key)
        else:
            weights = materialize_dense_weights(plan, input_shape[1], key)
        return {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
