"""The activation table: sigma, sigma', c_sigma and which closed forms exist.

An :class:`Activation` is what every backend consumes. Built-in activations are
looked up by name (:data:`ACTIVATION_NAMES`); any smooth user function can be
wrapped with :func:`activation`.

``c_sigma = 1 / E_{z~N(0,1)}[sigma(z)^2]`` is the paper's normalising constant
(docs/math.md §2). For ReLU and erf it is known exactly; for everything else it is
computed once by 1-D Gauss-Hermite quadrature with 600 nodes, which docs/math.md §8
validates against ``scipy.integrate.quad`` to 1e-14.
"""

from __future__ import annotations

import enum
import functools
import math
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["ACTIVATION_NAMES", "Activation", "ClosedForm", "activation", "resolve_activation"]

ArrayFn = Callable[[np.ndarray], np.ndarray]

_C_SIGMA_NODES = 600


class ClosedForm(enum.Enum):
    """How the Gaussian expectations of an activation are evaluated.

    RELU
        Arc-cosine closed forms (docs/math.md §8). Exact; the only correct route for
        ReLU, whose kink makes every series and quadrature converge slowly.
    ERF
        Arcsine closed forms (docs/math.md §8). Exact.
    NONE
        No closed form: the Mehler/Hermite series engine (numba backend) or
        Gauss-Hermite quadrature (reference backend).
    """

    RELU = 0
    ERF = 1
    NONE = 2


# scipy.special is imported on first use, not with ntkgd: `ntkgd --help` must start instantly.
def _erf(z):
    from scipy import special

    return special.erf(z)


def _sigmoid(z):
    from scipy import special

    return special.expit(z)


def _normal_cdf(z):
    from scipy import special

    return special.ndtr(z)


def _relu(z):
    return np.maximum(z, 0.0)


def _relu_prime(z):
    return (np.asarray(z) > 0).astype(np.float64)


def _erf_prime(z):
    return (2.0 / math.sqrt(math.pi)) * np.exp(-np.square(z))


def _tanh_prime(z):
    return 1.0 - np.square(np.tanh(z))


def _sigmoid_prime(z):
    s = _sigmoid(z)
    return s * (1.0 - s)


def _softplus(z):
    return np.logaddexp(0.0, z)


def _gelu(z):
    return z * _normal_cdf(z)


def _gelu_prime(z):
    return _normal_cdf(z) + z * np.exp(-0.5 * np.square(z)) / math.sqrt(2.0 * math.pi)


def _gaussian_second_moment(fn: ArrayFn) -> float:
    """E_{z~N(0,1)}[fn(z)^2] by probabilists' Gauss-Hermite quadrature."""
    from ._quadrature import gauss_hermite

    nodes, weights = gauss_hermite(_C_SIGMA_NODES)
    values = np.asarray(fn(nodes), dtype=np.float64)
    return float(np.dot(weights, np.square(values)))


@dataclass(frozen=True)
class Activation:
    """An activation function sigma with everything the kernels need.

    Parameters
    ----------
    name : str
        Name used in result files and error messages.
    fn : callable
        sigma, applied elementwise to a float64 array.
    derivative : callable
        sigma', applied elementwise to a float64 array.
    closed_form : ClosedForm
        Which exact formulas exist for the Gaussian expectations.
    c_sigma : float
        ``1 / E[sigma(z)^2]`` for ``z ~ N(0, 1)`` (docs/math.md §2).
    builtin : bool
        Whether this is a named built-in activation (the neural-tangents
        backend has native layers for some of them).
    """

    name: str
    fn: ArrayFn = field(repr=False, compare=False)
    derivative: ArrayFn = field(repr=False, compare=False)
    closed_form: ClosedForm = ClosedForm.NONE
    c_sigma: float = field(default=float("nan"))
    builtin: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.c_sigma) and self.c_sigma > 0):
            raise ValueError(
                f"Activation {self.name!r}: c_sigma = 1/E[sigma(z)^2] must be a finite positive "
                f"number, got {self.c_sigma!r}; is sigma identically zero or non-finite on N(0, 1)?"
            )


_BUILTIN_FUNCTIONS: dict[str, tuple[ArrayFn, ArrayFn, ClosedForm]] = {
    "relu": (_relu, _relu_prime, ClosedForm.RELU),
    "erf": (_erf, _erf_prime, ClosedForm.ERF),
    "tanh": (np.tanh, _tanh_prime, ClosedForm.NONE),
    "sigmoid": (_sigmoid, _sigmoid_prime, ClosedForm.NONE),
    "softplus": (_softplus, _sigmoid, ClosedForm.NONE),
    "gelu": (_gelu, _gelu_prime, ClosedForm.NONE),
}

ACTIVATION_NAMES: tuple[str, ...] = tuple(_BUILTIN_FUNCTIONS)

_EXACT_C_SIGMA = {
    "relu": 2.0,  # E[relu(z)^2] = 1/2
    "erf": math.pi / (2.0 * math.asin(2.0 / 3.0)),  # E[erf(z)^2] = (2/pi) arcsin(2/3)
}


@functools.cache
def _builtin(name: str) -> Activation:
    fn, derivative, closed_form = _BUILTIN_FUNCTIONS[name]
    c_sigma = _EXACT_C_SIGMA.get(name)
    if c_sigma is None:
        c_sigma = 1.0 / _gaussian_second_moment(fn)
    return Activation(name, fn, derivative, closed_form, c_sigma, builtin=True)


def _call_in_float64(fn: Callable, z: np.ndarray):
    """Call ``fn(z)``; a function written with ``jax.numpy`` would silently run in
    float32 unless JAX's 64-bit mode is on, so it is switched on for the call."""
    if "jax" not in sys.modules:
        return fn(z)
    from jax.experimental import enable_x64

    with enable_x64():
        return fn(z)


def _as_numpy_fn(fn: Callable, what: str, name: str) -> ArrayFn:
    """Wrap a user callable so that it returns a finite float64 numpy array."""

    def wrapped(z):
        z = np.asarray(z, dtype=np.float64)
        with np.errstate(all="ignore"):  # non-finite results are reported below, by name
            out = np.asarray(_call_in_float64(fn, z), dtype=np.float64)
        if out.shape != z.shape:
            raise ValueError(
                f"activation {name!r}: {what} must be elementwise, but mapped an array of shape "
                f"{z.shape} to shape {out.shape}."
            )
        if not np.all(np.isfinite(out)):
            bad = z[~np.isfinite(out)]
            raise ValueError(
                f"activation {name!r}: {what} returned non-finite values (e.g. at z = {bad[0]!r}); "
                "the Gaussian expectations need a function that is finite on the whole real line."
            )
        return out

    wrapped.__wrapped__ = fn  # the user's own function: the JAX networks trace it (ntkgd.finite._dense_networks)
    return wrapped


def _jax_derivative(fn: Callable, name: str) -> ArrayFn:
    """sigma' by JAX autodiff, for user functions written with ``jax.numpy``."""

    def derivative(z):
        import jax
        from jax.experimental import enable_x64

        z = np.asarray(z, dtype=np.float64)
        with enable_x64():
            try:
                grad = jax.vmap(jax.grad(lambda t: fn(t)))
                return np.asarray(grad(z.ravel()), dtype=np.float64).reshape(z.shape)
            except Exception as exc:  # JAX raises several unrelated types on untraceable code
                raise ValueError(
                    f"activation {name!r}: could not differentiate it automatically with JAX "
                    f"({type(exc).__name__}: {exc}). Write it with jax.numpy, or pass its "
                    "derivative explicitly: ntkgd.activation(fn, derivative=dfn)."
                ) from exc

    return derivative


def activation(fn: Callable, derivative: Callable | None = None, name: str | None = None) -> Activation:
    """Wrap a user-supplied smooth activation.

    Parameters
    ----------
    fn : callable
        sigma, elementwise on float64 arrays. Write it with ``jax.numpy`` if the
        neural-tangents backend or automatic differentiation should use it.
    derivative : callable, optional
        sigma'. If omitted it is derived with JAX autodiff when needed.
    name : str, optional
        A label for results; defaults to ``fn.__name__``.

    Returns
    -------
    Activation
        With ``closed_form = ClosedForm.NONE``: its expectations use the Mehler
        series (numba) or Gauss-Hermite quadrature (reference).

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> act = ntkgd.activation(np.sin, derivative=np.cos, name="sin")
    >>> round(act.c_sigma, 6)  # 1 / E[sin(z)^2] = 2 / (1 - e^-2)
    2.313035
    """
    if not callable(fn):
        raise TypeError(f"activation: fn must be callable, got {type(fn).__name__}.")
    if derivative is not None and not callable(derivative):
        raise TypeError(f"activation: derivative must be callable or None, got {type(derivative).__name__}.")
    label = name or getattr(fn, "__name__", None) or "custom"
    np_fn = _as_numpy_fn(fn, "the function", label)
    np_derivative = (
        _as_numpy_fn(derivative, "its derivative", label) if derivative is not None else _jax_derivative(fn, label)
    )
    c_sigma = 1.0 / _gaussian_second_moment(np_fn)
    return Activation(label, np_fn, np_derivative, ClosedForm.NONE, c_sigma, builtin=False)


def resolve_activation(spec: str | Activation | Callable, *, owner: str) -> Activation:
    """Turn a name, an :class:`Activation` or a callable into an :class:`Activation`.

    ``owner`` names the caller in error messages (e.g. ``"FullyConnected"``).
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in _BUILTIN_FUNCTIONS:
            raise ValueError(
                f"{owner}: unknown activation {spec!r}. Valid names are "
                f"{', '.join(ACTIVATION_NAMES)}; or pass a smooth callable "
                "(optionally via ntkgd.activation(fn, derivative))."
            )
        return _builtin(key)
    if callable(spec):
        return activation(spec)
    raise TypeError(
        f"{owner}: activation must be a name ({', '.join(ACTIVATION_NAMES)}), an ntkgd.Activation "
        f"or a callable, got {type(spec).__name__}."
    )
