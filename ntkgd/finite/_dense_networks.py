"""Finite-width dense networks in JAX, built exactly as the paper defines them, and their per-layer Grams.

The networks of docs/math.md §2, §3 and §5 (TwoLayer, FullyConnected, ResNet), with
N(0, 1) weights, no biases and the paper's scalings. Every Gram of a weight
group is computed *by structure* (docs/math.md §9b), never through an
n x #params Jacobian: for a dense layer ``g = W in`` the gradient of the output
``u_i`` with respect to ``W`` is the outer product ``delta_i in_i^T`` with
``delta_i = du_i/dg``, so

    G_ij = < delta_i in_i^T, delta_j in_j^T >_F = (delta_i . delta_j) (in_i . in_j).

The deltas come from one backward pass, ``e^(h-1) = W^(h)T delta^(h)`` (FC) or
``e^(h-1) = e^(h) + W^(h)T delta^(h)`` (ResNet), starting from ``e^(H) = a``.
Cost: O(n m^2) per layer and O(n^2 m) per Gram; memory O(n m) per layer.

**Weights.** Row ``r`` of ``W^(h)`` is ``normal(fold_in(fold_in(key(seed), h), r))``,
so a weight is a function of (seed, layer, row) only. Wide layers are generated
a block of rows at a time, in the forward pass and again in the backward pass,
and never held whole: the block size changes the memory, not the network.
The output layer ``a`` is drawn from ``fold_in(key(seed), 0)``.

Everything here runs inside ``jax.experimental.enable_x64()`` (the caller,
:func:`ntkgd.empirical_gram`, enters it); JAX is imported lazily.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

from ..specs import Activation

__all__ = [
    "DensePlan",
    "dense_backprop",
    "dense_grams_fn",
    "dense_layer_grams",
    "jax_activation",
    "output_weights",
    "weight_rows",
]


# --------------------------------------------------------------------------- activations


@functools.cache
def _builtin_table() -> dict[str, tuple[Callable, Callable]]:
    """``name -> (sigma, sigma')`` in jax.numpy; built once so the functions keep their identity (jit caches)."""
    import jax
    import jax.numpy as jnp
    from jax.scipy import special

    def relu(z):
        return jnp.maximum(z, 0.0)

    def relu_prime(z):
        return (z > 0).astype(z.dtype)  # sigma'(0) = 0, as in the numpy table

    def erf_prime(z):
        return (2.0 / math.sqrt(math.pi)) * jnp.exp(-jnp.square(z))

    def tanh_prime(z):
        return 1.0 - jnp.square(jnp.tanh(z))

    def sigmoid_prime(z):
        return jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)

    def gelu(z):
        return z * special.ndtr(z)

    def gelu_prime(z):
        return special.ndtr(z) + z * jnp.exp(-0.5 * jnp.square(z)) / math.sqrt(2.0 * math.pi)

    return {
        "relu": (relu, relu_prime),
        "erf": (special.erf, erf_prime),
        "tanh": (jnp.tanh, tanh_prime),
        "sigmoid": (jax.nn.sigmoid, sigmoid_prime),
        "softplus": (jax.nn.softplus, jax.nn.sigmoid),
        "gelu": (gelu, gelu_prime),
    }


def _traceable(fn: Callable) -> Exception | None:
    """None if ``fn`` maps a float64 vector to one of the same shape under JAX tracing, else the error."""
    import jax
    import jax.numpy as jnp

    try:
        out = jax.eval_shape(fn, jax.ShapeDtypeStruct((3,), jnp.float64))
    except Exception as exc:  # noqa: BLE001 -- JAX raises several unrelated types on untraceable code
        return exc
    if getattr(out, "shape", None) != (3,):
        shape = getattr(out, "shape", type(out).__name__)
        return ValueError(f"it maps shape (3,) to {shape}, so it is not elementwise")
    return None


@functools.cache
def _autodiff(fn: Callable) -> Callable:
    import jax
    import jax.numpy as jnp

    def derivative(z):
        return jax.jvp(fn, (z,), (jnp.ones_like(z),))[1]  # elementwise fn: the jvp with ones is sigma'(z)

    return derivative


def jax_activation(act: Activation, *, owner: str) -> tuple[Callable, Callable]:
    """``(sigma, sigma')`` as jax.numpy functions for a finite-width network.

    Built-in names map to jax.numpy implementations. A user function is used
    as it is, which requires it to be written with ``jax.numpy`` (traceable);
    its derivative is the user's if that is traceable too, else JAX autodiff.

    Raises
    ------
    TypeError
        If a user activation cannot be traced by JAX (e.g. written with numpy).
    """
    if act.builtin and act.name in _builtin_table():
        return _builtin_table()[act.name]
    fn = getattr(act.fn, "__wrapped__", act.fn)  # ntkgd.activation() wraps the user's function for numpy
    error = _traceable(fn)
    if error is not None:
        raise TypeError(
            f"{owner}: the activation {act.name!r} cannot be traced by JAX ({type(error).__name__}: "
            f"{' '.join(str(error).split())[:200]}). The finite-width networks are jitted JAX code: write the "
            "activation with jax.numpy (e.g. lambda z: jnp.sin(z)), or use a built-in name."
        )
    derivative = getattr(act.derivative, "__wrapped__", act.derivative)
    if _traceable(derivative) is not None:
        derivative = _autodiff(fn)
    return fn, derivative


# --------------------------------------------------------------------------- weights


def weight_rows(layer_key, start, count: int, shape: tuple[int, ...]):
    """Rows ``start .. start + count - 1`` of a weight array, each N(0, 1) of ``shape``, float64.

    Row ``r`` is drawn from ``fold_in(layer_key, r)`` alone, so any block of
    rows can be regenerated without the others. ``start`` may be traced.
    """
    import jax
    import jax.numpy as jnp

    rows = start + jnp.arange(count, dtype=jnp.uint32)
    return jax.vmap(lambda r: jax.random.normal(jax.random.fold_in(layer_key, r), shape, dtype=jnp.float64))(rows)


def output_weights(key, shape: tuple[int, ...], rademacher: bool):
    """The output layer ``a``: N(0, 1) (deep paper), or unif{-1, +1} (ICLR two-layer net), float64."""
    import jax
    import jax.numpy as jnp

    out_key = jax.random.fold_in(key, 0)
    if rademacher:
        return jax.random.rademacher(out_key, shape, dtype=jnp.float64)
    return jax.random.normal(out_key, shape, dtype=jnp.float64)


def layer_key(key, layer: int):
    """Key of ``W^(layer)``, layers numbered from 1."""
    import jax

    return jax.random.fold_in(key, layer)


def _block_count(width: int, rows: int) -> int:
    return -(-width // rows)


def dense_forward(inp, key, width: int, rows: int, keep: bool):
    """``(W or None, g = inp @ W^T)`` for ``W`` of shape (width, fan_in), by blocks of ``rows`` rows.

    With ``keep`` (or one block) ``W`` is generated whole and returned for the
    backward pass; otherwise it is generated block by block and dropped.
    """
    import jax.numpy as jnp
    from jax import lax

    n, fan_in = inp.shape
    if keep or rows >= width:
        W = weight_rows(key, 0, width, (fan_in,))
        return W, inp @ W.T
    blocks = _block_count(width, rows)

    def body(b, g):
        block = weight_rows(key, b * rows, rows, (fan_in,))
        return lax.dynamic_update_slice(g, inp @ block.T, (0, b * rows))

    g = lax.fori_loop(0, blocks, body, jnp.zeros((n, blocks * rows), inp.dtype))
    return None, g[:, :width]


def dense_backward(delta, key, W, fan_in: int, rows: int):
    """``delta @ W`` (shape (n, fan_in)), regenerating ``W`` block by block when it was not kept."""
    import jax.numpy as jnp
    from jax import lax

    if W is not None:
        return delta @ W
    n, width = delta.shape
    blocks = _block_count(width, rows)
    padded = jnp.pad(delta, ((0, 0), (0, blocks * rows - width)))  # the rows past `width` meet zeros

    def body(b, acc):
        block = weight_rows(key, b * rows, rows, (fan_in,))
        return acc + lax.dynamic_slice(padded, (0, b * rows), (n, rows)) @ block

    return lax.fori_loop(0, blocks, body, jnp.zeros((n, fan_in), delta.dtype))


# --------------------------------------------------------------------------- dense networks


@dataclass(frozen=True)
class DensePlan:
    """Everything static about one dense network's Gram computation (the jit cache key).

    Attributes
    ----------
    kind : {"two-layer", "fc", "resnet"}
    depth : int
        H, the number of hidden layers.
    width : int
        m.
    rows : int
        Rows of a weight matrix generated at once.
    keep : bool
        Keep every weight matrix from the forward pass for the backward pass
        (small nets) instead of regenerating it.
    sigma, sigma_prime : callable
        jax.numpy activation and its derivative.
    scale : float
        c_sigma of the first layer (and every FC layer); 1 for the two-layer net.
    branch : float
        c_res / H, the ResNet's residual scale (0 otherwise).
    """

    kind: str
    depth: int
    width: int
    rows: int
    keep: bool
    sigma: Callable
    sigma_prime: Callable
    scale: float
    branch: float = 0.0

    def factor(self, layer: int) -> float:
        """The multiplier of ``sigma(g^(layer))`` in ``x^(layer)``."""
        if self.kind == "resnet" and layer > 1:
            return self.branch / math.sqrt(self.width)
        return math.sqrt(self.scale / self.width)


def dense_backprop(plan: DensePlan, X, forward: Callable, backward: Callable, a):
    """One forward pass and the per-input backward pass of a dense network (docs/math.md §9b).

    Parameters
    ----------
    plan : DensePlan
    X : jnp array, shape (n, d)
    forward : callable
        ``forward(h, inp) -> (W or None, g)`` with ``g = inp @ W^(h)T`` of
        shape (n, m); ``W`` is handed back to ``backward`` (None when the
        weights are regenerated there).
    backward : callable
        ``backward(h, delta, W) -> delta @ W^(h)``, shape (n, fan_in), for h >= 2.
    a : jnp array, shape (m,)
        The output layer.

    Returns
    -------
    x : shape (n, m)
        The last hidden layer ``x^(H)``; ``u = x @ a``.
    inputs : list of H arrays
        ``in^(h)`` (``X`` for h = 1, else ``x^(h-1)``), shapes (n, d) and (n, m).
    pre : list of H arrays, each (n, m)
        Pre-activations ``g^(h) = W^(h) in^(h)``.
    deltas : list of H arrays, each (n, m)
        ``delta^(h)_i = du_i / dg^(h)_i``, one row per input: the backward
        pass starts from ``e^(H) = a`` for every input, and
        ``e^(h-1) = W^(h)T delta^(h)`` (FC) or ``e^(h) + W^(h)T delta^(h)`` (ResNet).
    """
    import jax.numpy as jnp

    depth = plan.depth
    inp, x = X, None
    inputs, pre, kept = [], [], []
    for h in range(1, depth + 1):
        W, g = forward(h, inp)
        kept.append(W)
        inputs.append(inp)
        pre.append(g)
        branch = plan.factor(h) * plan.sigma(g)
        x = inp + branch if (plan.kind == "resnet" and h > 1) else branch
        inp = x
    e = jnp.broadcast_to(a, x.shape)  # e^(H) = du/dx^(H) = a for every input
    deltas = [None] * depth
    for h in range(depth, 0, -1):
        delta = e * (plan.factor(h) * plan.sigma_prime(pre[h - 1]))
        deltas[h - 1] = delta
        if h > 1:
            back = backward(h, delta, kept[h - 1])
            e = e + back if plan.kind == "resnet" else back
    return x, inputs, pre, deltas


def dense_layer_grams(plan: DensePlan, x, inputs, deltas):
    """Per-layer Grams ``(delta delta^T) * (in in^T)``, first layer first, and the output layer's ``x x^T`` if trained.

    Returns a jnp array of shape (L, n, n), L = H + 1 (H for the two-layer net, whose ``a`` is fixed).
    """
    import jax.numpy as jnp

    grams = [(delta @ delta.T) * (inp @ inp.T) for inp, delta in zip(inputs, deltas)]
    if plan.kind != "two-layer":
        grams.append(x @ x.T)  # the output layer's Gram, x^(H) . x^(H)
    return jnp.stack(grams)


def _dense_grams(plan: DensePlan, X, key):
    """Per-layer Grams (first layer first, output layer last if trained) and the NNGP, as jnp arrays."""
    m = plan.width

    def forward(h, inp):
        return dense_forward(inp, layer_key(key, h), m, plan.rows, plan.keep)

    def backward(h, delta, W):
        return dense_backward(delta, layer_key(key, h), W, m, plan.rows)

    a = output_weights(key, (m,), rademacher=plan.kind == "two-layer")
    x, inputs, _, deltas = dense_backprop(plan, X, forward, backward, a)
    return dense_layer_grams(plan, x, inputs, deltas), x @ x.T


@functools.lru_cache(maxsize=32)
def dense_grams_fn(plan: DensePlan) -> Callable:
    """The jitted ``(X, key) -> (layers (L, n, n), nngp (n, n))`` of a plan; call it under ``enable_x64``."""
    import jax

    return jax.jit(functools.partial(_dense_grams, plan))


def materialize_dense_weights(plan: DensePlan, d: int, key) -> dict:
    """Every weight of the network as arrays: ``{"W1": (m, d), ..., "WH": (m, m), "a": (m,)}`` (tests, small m)."""
    weights = {}
    for h in range(1, plan.depth + 1):
        fan_in = d if h == 1 else plan.width
        weights[f"W{h}"] = weight_rows(layer_key(key, h), 0, plan.width, (fan_in,))
    weights["a"] = output_weights(key, (plan.width,), rademacher=plan.kind == "two-layer")
    return weights
