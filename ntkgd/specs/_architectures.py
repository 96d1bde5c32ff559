"""Architecture specs: frozen, validated dataclasses, the single source of truth.

The analytic recursions, the neural-tangents translation and the finite-width
JAX networks are all built from these objects (docs/design.md §1). Every spec
derives from :class:`Architecture`, which holds what the four have in common
(activation resolution, ``scale``, ``trains_output_layer``, ``describe``);
:data:`ARCHITECTURES` lists the spec classes once for every ``isinstance``
check, and :func:`check_architecture` raises the callers' common error.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Union

from ._activations import Activation, resolve_activation

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "ConvResNet",
    "FullyConnected",
    "ResNet",
    "TwoLayer",
    "check_architecture",
]

ActivationLike = Union[str, Activation, Callable]


def _check_depth(owner: str, depth) -> None:
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise ValueError(
            f"{owner}: depth must be an integer >= 1 (the number H of hidden layers), got {depth!r}."
        )


def _check_c_res(owner: str, c_res) -> float:
    if isinstance(c_res, bool) or not isinstance(c_res, numbers.Real) or not (math.isfinite(c_res) and c_res > 0):
        raise ValueError(
            f"{owner}: c_res must be a finite number > 0 (the paper asks 0 < c_res < 1; 1 is common), got {c_res!r}."
        )
    return float(c_res)


class Architecture:
    """Base of the spec dataclasses: what every architecture has in common.

    A subclass is a frozen dataclass with an ``activation`` field and an
    ``act`` field (``init=False``); it names itself in result files by
    :attr:`family`, checks its own fields in :meth:`_check_fields`, and
    overrides :attr:`scale` and :attr:`trains_output_layer` where it differs
    from the paper's deep networks.
    """

    #: The ``"arch"`` entry of :meth:`describe`.
    family = ""
    #: Whether inputs are signals or images (n, channels, pixels[, width]) rather than rows (n, d).
    convolutional = False

    def __post_init__(self):
        self._check_fields()
        self._set_activation()

    def _check_fields(self) -> None:
        """Validate and normalise the fields other than ``activation`` (none here)."""

    def _set_activation(self) -> None:
        """Resolve ``activation``; built-in names are stored canonically ("ReLU" -> "relu")."""
        act = resolve_activation(self.activation, owner=type(self).__name__)
        object.__setattr__(self, "act", act)
        if act.builtin:
            object.__setattr__(self, "activation", act.name)

    @property
    def trains_output_layer(self) -> bool:
        """The deep paper trains ``a`` too (docs/math.md §1)."""
        return True

    @property
    def scale(self) -> float:
        """Multiplier of the (first) layer's second moments: c_sigma."""
        return self.act.c_sigma

    def describe(self) -> dict:
        """A JSON-ready description for result files: the family, then the fields (activation by name)."""
        description = {"arch": self.family}
        for spec_field in dataclasses.fields(self):
            if spec_field.init:
                name = spec_field.name
                description[name] = self.act.name if name == "activation" else getattr(self, name)
        return description


@dataclass(frozen=True)
class TwoLayer(Architecture):
    """The two-layer network of Du, Zhai, Poczos and Singh (ICLR 2019), docs/math.md §5.

    ``f(x) = m^{-1/2} sum_r a_r sigma(w_r . x)`` with ``w_r ~ N(0, I_d)``,
    ``a_r ~ unif{-1, +1}`` fixed; only W is trained. Its Gram limit is
    ``H^inf_ij = (x_i . x_j) E[sigma'(u) sigma'(v)]``, the paper's ``.paper``
    and the whole NTK (one trained weight group).

    Parameters
    ----------
    activation : str, Activation or callable
        ``"relu"`` gives the ICLR paper's network.
    """

    family = "two-layer"

    activation: ActivationLike = "relu"
    act: Activation = field(init=False, repr=False, compare=False)

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


class _DeepArchitecture(Architecture):
    """A spec with a ``depth`` field: H >= 1 hidden layers."""

    def _check_fields(self) -> None:
        _check_depth(type(self).__name__, self.depth)
        object.__setattr__(self, "depth", int(self.depth))


@dataclass(frozen=True)
class FullyConnected(_DeepArchitecture):
    """The paper's deep fully connected network, docs/math.md §2.

    ``x^(h) = sqrt(c_sigma / m) sigma(W^(h) x^(h-1))`` for ``h = 1..H`` and
    ``f(x) = a^T x^(H)``; all layers, ``a`` included, are trained. The paper's
    ``K^(H)`` (Definition 5.1) is the Gram of ``W^(H)`` alone.

    Parameters
    ----------
    depth : int
        H >= 1, the number of hidden layers.
    activation : str, Activation or callable
    """

    family = "fc"

    depth: int
    activation: ActivationLike = "relu"
    act: Activation = field(init=False, repr=False, compare=False)


class _ResidualArchitecture(_DeepArchitecture):
    """A deep spec with a ``c_res`` field: residual layers 2..H scaled by ``c_res / (H sqrt(m))``."""

    def _check_fields(self) -> None:
        super()._check_fields()
        object.__setattr__(self, "c_res", _check_c_res(type(self).__name__, self.c_res))

    @property
    def branch_scale(self) -> float:
        """``c_res / H``, the residual branches' scale (``s_H`` in docs/math.md §3)."""
        return self.c_res / self.depth


@dataclass(frozen=True)
class ResNet(_ResidualArchitecture):
    """The paper's ResNet, docs/math.md §3 (Section 3 and Definition 6.1).

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

    family = "resnet"

    depth: int
    activation: ActivationLike = "relu"
    c_res: float = 0.5
    act: Activation = field(init=False, repr=False, compare=False)


@dataclass(frozen=True)
class ConvResNet(_ResidualArchitecture):
    """The paper's convolutional ResNet, docs/math.md §4 (Sections 3 and 7, Definition 7.1).

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

    family = "convresnet"
    convolutional = True

    depth: int
    activation: ActivationLike = "relu"
    c_res: float = 0.5
    patch: int = 3
    act: Activation = field(init=False, repr=False, compare=False)

    def _check_fields(self) -> None:
        super()._check_fields()
        patch = self.patch
        if isinstance(patch, bool) or not isinstance(patch, numbers.Integral) or patch < 1 or patch % 2 == 0:
            raise ValueError(f"ConvResNet: patch must be an odd integer >= 1 (stride 1, zero padding), got {patch!r}.")
        object.__setattr__(self, "patch", int(patch))


#: The supported spec classes, in the order error messages list them.
ARCHITECTURES = (TwoLayer, FullyConnected, ResNet, ConvResNet)


def check_architecture(arch, owner: str) -> None:
    """Raise ``TypeError("{owner}: arch must be one of ...")`` unless ``arch`` is a spec of :data:`ARCHITECTURES`.

    Parameters
    ----------
    arch : object
        What the caller was given as ``arch``.
    owner : str
        The public function named in the message (e.g. ``"analytic_gram"``).
    """
    if not isinstance(arch, ARCHITECTURES):
        names = ", ".join(spec.__name__ for spec in ARCHITECTURES)
        raise TypeError(f"{owner}: arch must be one of {names}, got {type(arch).__name__}.")
