"""Architecture specs: frozen, validated dataclasses, the single source of truth.

The analytic recursions, the neural-tangents translation and (later) the
finite-width JAX networks are all built from these objects (DESIGN.md §1).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Callable, Union

from ._activations import Activation, resolve_activation

__all__ = ["Architecture", "FullyConnected", "TwoLayer"]

ActivationLike = Union[str, Activation, Callable]


def _check_depth(owner: str, depth) -> None:
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise ValueError(
            f"{owner}: depth must be an integer >= 1 (the number H of hidden layers), got {depth!r}."
        )


def _set_activation(spec, owner: str) -> None:
    """Resolve ``spec.activation``; built-in names are stored canonically ("ReLU" -> "relu")."""
    act = resolve_activation(spec.activation, owner=owner)
    object.__setattr__(spec, "act", act)
    if act.builtin:
        object.__setattr__(spec, "activation", act.name)


@dataclass(frozen=True)
class TwoLayer:
    """The two-layer network of Du, Zhai, Poczos and Singh (ICLR 2019), MATH.md §5.

    ``f(x) = m^{-1/2} sum_r a_r sigma(w_r . x)`` with ``w_r ~ N(0, I_d)``,
    ``a_r ~ unif{-1, +1}`` fixed; only W is trained. Its Gram limit is
    ``H^inf_ij = (x_i . x_j) E[sigma'(u) sigma'(v)]``, the paper's ``.paper``
    and the whole NTK (one trained weight group).

    Parameters
    ----------
    activation : str, Activation or callable
        ``"relu"`` gives the ICLR paper's network.
    """

    activation: ActivationLike = "relu"
    act: Activation = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        _set_activation(self, "TwoLayer")

    @property
    def depth(self) -> int:
        """Number of hidden layers (always 1)."""
        return 1

    @property
    def trains_output_layer(self) -> bool:
        """The ICLR network keeps ``a`` fixed."""
        return False

    @property
    def scale(self) -> float:
        """Multiplier of the hidden layer's second moments (no c_sigma in the ICLR net)."""
        return 1.0

    def describe(self) -> dict:
        """A JSON-ready description for result files."""
        return {"arch": "two-layer", "activation": self.act.name}


@dataclass(frozen=True)
class FullyConnected:
    """The paper's deep fully connected network, MATH.md §2.

    ``x^(h) = sqrt(c_sigma / m) sigma(W^(h) x^(h-1))`` for ``h = 1..H`` and
    ``f(x) = a^T x^(H)``; all layers, ``a`` included, are trained. The paper's
    ``K^(H)`` (Definition 5.1) is the Gram of ``W^(H)`` alone.

    Parameters
    ----------
    depth : int
        H >= 1, the number of hidden layers.
    activation : str, Activation or callable
    """

    depth: int
    activation: ActivationLike = "relu"
    act: Activation = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        _check_depth("FullyConnected", self.depth)
        object.__setattr__(self, "depth", int(self.depth))
        _set_activation(self, "FullyConnected")

    @property
    def trains_output_layer(self) -> bool:
        """The deep paper trains ``a`` too (MATH.md §1)."""
        return True

    @property
    def scale(self) -> float:
        """Multiplier of every layer's second moments: c_sigma."""
        return self.act.c_sigma

    def describe(self) -> dict:
        """A JSON-ready description for result files."""
        return {"arch": "fc", "depth": self.depth, "activation": self.act.name}


Architecture = Union[TwoLayer, FullyConnected]
