"""Architecture specs: frozen, validated dataclasses, the single source of truth.

The analytic recursions, the neural-tangents translation and (later) the
finite-width JAX networks are all built from these objects (DESIGN.md §1).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Union

from ._activations import Activation, resolve_activation

__all__ = ["Architecture", "ConvResNet", "FullyConnected", "ResNet", "TwoLayer"]

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


def _check_c_res(owner: str, c_res) -> float:
    if isinstance(c_res, bool) or not isinstance(c_res, numbers.Real) or not (math.isfinite(c_res) and c_res > 0):
        raise ValueError(
            f"{owner}: c_res must be a finite number > 0 (the paper asks 0 < c_res < 1; 1 is common), got {c_res!r}."
        )
    return float(c_res)


@dataclass(frozen=True)
class ResNet:
    """The paper's ResNet, MATH.md §3 (Section 3 and Definition 6.1).

    ``x^(1) = sqrt(c_sigma / m) sigma(W^(1) x)``;
    ``x^(h) = x^(h-1) + c_res / (H sqrt(m)) sigma(W^(h) x^(h-1))`` for ``h = 2..H``;
    ``f(x) = a^T x^(H)``. All layers, ``a`` included, are trained. The residual
    branch has no output matrix and no centring, so its mean enters the kernel
    through the ``b^(h)`` terms.

    Parameters
    ----------
    depth : int
        H >= 1, the number of hidden layers (1 input layer + H - 1 residual layers).
    activation : str, Activation or callable
    c_res : float
        Residual scaling, > 0 (the theory asks 0 < c_res < 1).
    """

    depth: int
    activation: ActivationLike = "relu"
    c_res: float = 0.5
    act: Activation = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        _check_depth("ResNet", self.depth)
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "c_res", _check_c_res("ResNet", self.c_res))
        _set_activation(self, "ResNet")

    @property
    def trains_output_layer(self) -> bool:
        """The deep paper trains ``a`` too (MATH.md §1)."""
        return True

    @property
    def scale(self) -> float:
        """Multiplier of the first layer's second moments: c_sigma."""
        return self.act.c_sigma

    @property
    def branch_scale(self) -> float:
        """``c_res / H``, the residual branches' scale (``s_H`` in MATH.md §3)."""
        return self.c_res / self.depth

    def describe(self) -> dict:
        """A JSON-ready description for result files."""
        return {"arch": "resnet", "depth": self.depth, "activation": self.act.name, "c_res": self.c_res}


@dataclass(frozen=True)
class ConvResNet:
    """The paper's convolutional ResNet, MATH.md §4 (Sections 3 and 7, Definition 7.1).

    Inputs are signals of shape (channels, pixels) or images of shape
    (channels, height, width), with ``||x||_F = 1`` in the paper. Every layer is
    a stride-1 convolution with odd patch size ``patch`` (q, or q x q for
    images) and zero padding, followed by sigma; layers 2..H are residual with
    scale ``c_res / (H sqrt(m))``; the output is ``<a, x^(H)>_F`` with ``a`` of
    shape (m, pixels). All layers are trained.

    Parameters
    ----------
    depth : int
        H >= 1.
    activation : str, Activation or callable
    c_res : float
        Residual scaling, > 0.
    patch : int
        Odd patch size q >= 1.
    """

    depth: int
    activation: ActivationLike = "relu"
    c_res: float = 0.5
    patch: int = 3
    act: Activation = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        _check_depth("ConvResNet", self.depth)
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "c_res", _check_c_res("ConvResNet", self.c_res))
        patch = self.patch
        if isinstance(patch, bool) or not isinstance(patch, numbers.Integral) or patch < 1 or patch % 2 == 0:
            raise ValueError(f"ConvResNet: patch must be an odd integer >= 1 (stride 1, zero padding), got {patch!r}.")
        object.__setattr__(self, "patch", int(patch))
        _set_activation(self, "ConvResNet")

    @property
    def trains_output_layer(self) -> bool:
        """The deep paper trains ``a`` too (MATH.md §1)."""
        return True

    @property
    def scale(self) -> float:
        """Multiplier of the first layer's second moments: c_sigma."""
        return self.act.c_sigma

    @property
    def branch_scale(self) -> float:
        """``c_res / H``, the residual branches' scale."""
        return self.c_res / self.depth

    def describe(self) -> dict:
        """A JSON-ready description for result files."""
        return {
            "arch": "convresnet",
            "depth": self.depth,
            "activation": self.act.name,
            "c_res": self.c_res,
            "patch": self.patch,
        }


Architecture = Union[TwoLayer, FullyConnected, ResNet, ConvResNet]
