"""ntkgd.specs: what a network is, independent of how its Grams are computed.

- ``_activations``: :class:`Activation` (sigma, sigma', c_sigma, closed-form
  family) and the built-in names;
- ``_architectures``: the frozen, validated spec dataclasses
  (:class:`TwoLayer`, :class:`FullyConnected`, :class:`ResNet`,
  :class:`ConvResNet`, on the common base :class:`Architecture`), the tuple
  :data:`ARCHITECTURES` of them and :func:`check_architecture`;
- ``_quadrature``: Gauss-Hermite rules (:func:`gauss_hermite`).

The analytic backends (:mod:`ntkgd.analytic`) and the finite-width networks
(:mod:`ntkgd.finite`) are both built from these objects.
"""

from ._activations import ACTIVATION_NAMES, Activation, ClosedForm, activation, resolve_activation
from ._architectures import (
    ARCHITECTURES,
    Architecture,
    ConvResNet,
    FullyConnected,
    ResNet,
    TwoLayer,
    check_architecture,
)
from ._quadrature import gauss_hermite

__all__ = [
    "ACTIVATION_NAMES",
    "ARCHITECTURES",
    "Activation",
    "Architecture",
    "ClosedForm",
    "ConvResNet",
    "FullyConnected",
    "ResNet",
    "TwoLayer",
    "activation",
    "check_architecture",
    "gauss_hermite",
    "resolve_activation",
]
