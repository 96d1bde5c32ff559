"""The registry of analytic Gram implementations: (spec family, backend) -> backend wrapper, and every refusal.

:func:`ntkgd.analytic_gram`, the tiled path (:mod:`ntkgd.analytic._tiled`),
the benchmarks and the CLI ask this module, and only this module, which
backend computes which spec:

============  ===============================  ====================================
family        specs                            backends
============  ===============================  ====================================
``"dense"``   TwoLayer, FullyConnected,        numba, nt (where neural-tangents can
              ResNet                           express it exactly), reference;
                                               tiled: numba
``"conv"``    ConvResNet                       numba, reference
============  ===============================  ====================================

A wrapper is named by module and function and imported only when it is used,
so that asking whether a backend supports a spec imports neither the kernels
nor neural-tangents. Every wrapper has the signature
``grams(arch, X, X2, outputs, memory_limit) -> dict`` on validated inputs:
``X2=None`` asks for the square (n, n) Grams of ``X``, an array ``X2`` for
the (n, n2) cross-Grams ``K(X, X2)`` (rows ``X``, columns ``X2``).
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core import UnsupportedBackendError
from ..specs import ConvResNet, FullyConnected, ResNet, TwoLayer

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "GramImplementation",
    "check_supported",
    "check_tiled_architecture",
    "check_tiled_backend",
    "grams_implementation",
    "parse_backend",
    "spec_family",
    "supports",
    "unsupported_reason",
]


class Backend(str, enum.Enum):
    """Implementations of the analytic Grams, and when to use each.

    NUMBA
        The default: fused, parallel Numba kernels with closed forms (ReLU,
        erf) or the Mehler series engine (any smooth activation). Use it for
        real work; accurate to about 1e-13.
    NT
        neural-tangents' ``kernel_fn`` through the stax translation of
        docs/math.md §7. An independent implementation, for cross-checks; slower
        and limited to what neural-tangents can express.
    REFERENCE
        A slow, plainly written float64 oracle (adaptive quadrature for ReLU,
        high-order Gauss-Hermite quadrature otherwise). For tests and for
        checking a handful of points; cost grows like n^2 * depth quadratures.
    """

    NUMBA = "numba"
    NT = "nt"
    REFERENCE = "reference"


#: The backends' names, in the order error messages list them.
BACKEND_NAMES = tuple(backend.value for backend in Backend)

#: The specs of the dense family, whose recursions run over pairs of inputs.
DENSE_SPECS = (TwoLayer, FullyConnected, ResNet)


@dataclass(frozen=True)
class GramImplementation:
    """A backend wrapper ``module.function(arch, X, X2, outputs, memory_limit) -> dict``, imported on first call.

    Attributes
    ----------
    module : str
        Module of :mod:`ntkgd.analytic` holding the wrapper (relative, e.g. ``"._nt"``).
    function : str
        The wrapper's name.
    refusal : str, optional
        A function of the same module, ``refusal(arch) -> str | None``: why
        this backend cannot compute ``arch`` of its family (None: it can).
    """

    module: str
    function: str
    refusal: str | None = None

    def _attribute(self, name: str) -> Callable:
        return getattr(importlib.import_module(self.module, __package__), name)

    def unsupported_reason(self, arch) -> str | None:
        """Why this wrapper cannot compute ``arch`` (None when it can)."""
        return None if self.refusal is None else self._attribute(self.refusal)(arch)

    def __call__(self, arch, X: np.ndarray, X2: np.ndarray | None, outputs: frozenset,
                 memory_limit: int | None, **options) -> dict:  # fmt: skip
        return self._attribute(self.function)(arch, X, X2, outputs, memory_limit, **options)


#: (spec family, backend) -> the wrapper that computes it.
IMPLEMENTATIONS = {
    ("dense", Backend.NUMBA): GramImplementation("._numba_dense", "numba_grams"),
    ("dense", Backend.NT): GramImplementation("._nt", "nt_grams", refusal="nt_refusal"),
    ("dense", Backend.REFERENCE): GramImplementation("._reference", "reference_grams"),
    ("conv", Backend.NUMBA): GramImplementation("._numba_conv", "numba_conv_grams"),
    ("conv", Backend.REFERENCE): GramImplementation("._reference_conv", "reference_conv_grams"),
}

#: (spec family, backend) pairs without a wrapper, and why.
REFUSALS = {
    ("conv", Backend.NT): (
        "analytic_gram: the neural-tangents backend cannot express the paper's convolutional ResNet. Its "
        "residual branch adds post-activation, non-centred vectors (no output Dense, no centring), whose "
        "mean enters the kernel through the b^(h) terms; neural-tangents' FanInSum only sums mean-zero "
        "Gaussian inputs (docs/math.md §7). Use backend='numba' (the default) or backend='reference'."
    ),
}

#: The only backend of tiled (distributed) Grams; it tiles the dense family only.
TILED_BACKEND = Backend.NUMBA


def parse_backend(backend, owner: str = "analytic_gram") -> Backend:
    """``backend`` as a :class:`Backend`; ``ValueError`` naming the valid ones otherwise.

    Anything but a string is refused in one line (``TypeError``), however it
    prints: an array passed as a third positional argument, for instance.
    """
    if not isinstance(backend, str):
        valid = ", ".join(repr(name) for name in BACKEND_NAMES)
        shape = f" of shape {backend.shape}" if hasattr(backend, "shape") else ""
        raise TypeError(
            f"{owner}: backend must be one of {valid} (a string), got a {type(backend).__name__}{shape}. "
            "The backend is a keyword argument: analytic_gram(arch, X, backend='numba'); a second set of inputs "
            "is the third positional argument, analytic_gram(arch, X, X2), for the cross-Gram K(X, X2)."
        )
    try:
        return Backend(backend)
    except ValueError:
        valid = ", ".join(repr(name) for name in BACKEND_NAMES)
        raise ValueError(f"{owner}: unknown backend {backend!r}; valid backends are {valid}.") from None


def spec_family(arch) -> str:
    """``"conv"`` for a convolutional spec (ConvResNet), ``"dense"`` for every other one."""
    return "conv" if arch.convolutional else "dense"


def unsupported_reason(arch, backend) -> str | None:
    """Why ``backend`` cannot compute the Grams of ``arch`` on one machine; None when it can.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
    backend : str or Backend

    Returns
    -------
    str or None
        The message :class:`~ntkgd.UnsupportedBackendError` carries.
    """
    key = (spec_family(arch), parse_backend(backend))
    if key in REFUSALS:
        return REFUSALS[key]
    return IMPLEMENTATIONS[key].unsupported_reason(arch)


def supports(arch, backend) -> bool:
    """Whether ``backend`` computes the Grams of ``arch`` (see :func:`unsupported_reason` for why not)."""
    return unsupported_reason(arch, backend) is None


def check_supported(arch, backend) -> None:
    """Raise :class:`~ntkgd.UnsupportedBackendError` unless ``backend`` computes the Grams of ``arch``."""
    reason = unsupported_reason(arch, backend)
    if reason is not None:
        raise UnsupportedBackendError(reason)


def grams_implementation(arch, backend) -> GramImplementation:
    """The wrapper that computes ``arch``'s Grams with ``backend``, after :func:`check_supported`."""
    check_supported(arch, backend)
    return IMPLEMENTATIONS[spec_family(arch), parse_backend(backend)]


def check_tiled_backend(backend: Backend) -> None:
    """``ValueError`` unless ``backend`` is the one that computes tiled Grams."""
    if backend is not TILED_BACKEND:
        raise ValueError(
            f"analytic_gram: tiled Grams (tiles=, client=, store=) are computed by the {TILED_BACKEND.value} "
            f"backend only, got backend={backend.value!r}; drop backend= or compute on one machine."
        )


def check_tiled_architecture(arch, owner: str) -> None:
    """``NotImplementedError`` for a ConvResNet, ``TypeError`` for what is not a dense spec."""
    if isinstance(arch, ConvResNet):
        raise NotImplementedError(
            f"{owner}: tiled (distributed) Grams support TwoLayer, FullyConnected and ResNet; ConvResNet tiles are "
            "not implemented (its recursion runs over pixel pairs with a different kernel). Compute ConvResNet "
            "Grams on one machine: call analytic_gram without tiles= and client=."
        )
    if not isinstance(arch, DENSE_SPECS):
        raise TypeError(
            f"{owner}: arch must be a TwoLayer, FullyConnected or ResNet spec, got {type(arch).__name__}."
        )
