"""The result object shared by every Gram computation, analytic and empirical, square and cross."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OUTPUT_NAMES", "Gram", "inputs_digest", "parse_outputs"]

#: What a Gram computation can return; ``outputs=`` selects a subset.
OUTPUT_NAMES = ("paper", "ntk", "layers", "nngp")


def parse_outputs(outputs, *, owner: str, allowed: tuple[str, ...] = OUTPUT_NAMES, context: str = "",
                  advice=lambda unknown: ".") -> tuple[str, ...]:  # fmt: skip
    """The ``outputs=`` argument as a tuple of distinct names, in the order given, or a ValueError.

    Parameters
    ----------
    outputs : str or iterable of str
        One name or several, each in ``allowed``.
    owner : str
        The public function named in the message.
    allowed : tuple of str
        The names this caller computes (the tiled path offers fewer).
    context : str
        Said before "outputs must ..." (e.g. "with tiles= or client=, ").
    advice : callable
        ``advice(unknown names) -> str``, appended to the message (default: the full stop).
    """
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise ValueError(
            f"{owner}: {context}outputs must be a non-empty subset of {allowed}, got {names!r}{advice(unknown)}"
        )
    return tuple(dict.fromkeys(names))


def inputs_digest(X: np.ndarray) -> str:
    """sha256 of a validated input array's shape and float64 bytes (what :attr:`Gram.inputs_sha256` holds)."""
    digest = hashlib.sha256(repr(tuple(X.shape)).encode())
    digest.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Gram:
    """Gram matrices of one network on one data set, all float64 and (n, n); or, for a
    cross-Gram ``K(X, X2)``, on two sets, all (n, n2): row i is ``X[i]``, column j is ``X2[j]``.

    Attributes
    ----------
    paper : ndarray, shape (n, n)
        The paper's ``K^(H)``: the Gram of the last hidden layer's weights
        ``W^(H)`` alone (Definitions 5.1/6.1/7.1; for :class:`~ntkgd.TwoLayer`
        the ICLR ``H^inf``). ``lambda_0 = lambda_min(paper)``.
    ntk : ndarray, shape (n, n)
        The full NTK Theta, the sum of the Grams of every trained weight group.
    layers : tuple of ndarray, each (n, n)
        The Gram of each trained weight group, first layer first, output layer
        last (the output layer is absent for TwoLayer, where it is fixed).
    nngp : ndarray, shape (n, n)
        Second moment of the last hidden layer, ``lim x_i^(H) . x_j^(H)`` (the
        output layer's Gram, docs/math.md §2).
    arch : object
        The architecture spec it was computed for.
    backend : str
        Which implementation produced it.
    seconds : float
        Wall time of the computation.
    inputs_sha256 : str or None
        sha256 of the validated float64 inputs (shape and bytes), so that a
        consumer such as :func:`ntkgd.train` can check that the Gram belongs
        to its inputs (:func:`inputs_digest`); None for tiled Grams.
    columns_sha256 : str or None
        For a cross-Gram, the same digest of ``X2`` (the columns); None for a
        square Gram.

    Accessing an output that was not requested with ``outputs=`` raises
    ``AttributeError`` naming the argument to change.
    """

    arch: object
    backend: str
    seconds: float
    _values: dict = field(repr=False)
    inputs_sha256: str | None = field(default=None, repr=False)
    columns_sha256: str | None = field(default=None, repr=False)

    def _get(self, name: str):
        value = self._values.get(name)
        if value is None:
            computed = ", ".join(k for k in OUTPUT_NAMES if self._values.get(k) is not None)
            raise AttributeError(
                f"Gram.{name} was not computed (outputs requested: {computed}); "
                f"include {name!r} in outputs= when computing the Gram."
            )
        return value

    @property
    def paper(self) -> np.ndarray:
        return self._get("paper")

    @property
    def ntk(self) -> np.ndarray:
        return self._get("ntk")

    @property
    def layers(self) -> tuple[np.ndarray, ...]:
        return self._get("layers")

    @property
    def nngp(self) -> np.ndarray:
        return self._get("nngp")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``, or ``(n, n2)`` for a cross-Gram."""
        first = next(v for v in self._values.values() if v is not None)
        return tuple((first[0] if isinstance(first, tuple) else first).shape)

    @property
    def n(self) -> int:
        """Number of inputs (the rows' inputs ``X`` of a cross-Gram)."""
        return self.shape[0]

    @property
    def cross(self) -> bool:
        """Whether this is a cross-Gram ``K(X, X2)`` rather than the Gram of one set."""
        return self.columns_sha256 is not None

    def available(self) -> tuple[str, ...]:
        """Names of the outputs this object holds."""
        return tuple(k for k in OUTPUT_NAMES if self._values.get(k) is not None)
