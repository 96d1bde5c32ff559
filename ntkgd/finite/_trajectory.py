"""The record of one gradient-descent run (:func:`ntkgd.train`): tracked arrays, summaries, the theory bound."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core import finite_or_none

__all__ = ["GramSeries", "Trajectory", "bound", "mean_square_error"]

#: The split-half series of the paper's Gram change (docs/math.md §6b), in ``arrays()`` when the run has them.
_SPLIT = ("gram_change_coherent", "gram_change_incoherent", "gram_change_halves_inner", "gram_change_coherent_rel",
          "gram_change_incoherent_rel")


@dataclass(frozen=True)
class GramSeries:
    """One tracked scalar of the paper's Gram and of the NTK, at every tracked step.

    Attributes
    ----------
    paper : ndarray, shape (K,)
        For ``G^(H)(k)``, the Gram of ``W^(H)`` alone (TwoLayer: ``H(k)``).
    ntk : ndarray, shape (K,)
        For ``G(k)``, the sum of every trained weight group's Gram.
    """

    paper: np.ndarray
    ntk: np.ndarray


@dataclass(frozen=True)
class Trajectory:
    """The record of one gradient-descent run; K tracked steps, S steps done.

    Attributes
    ----------
    arch : spec
    width, seed : int
    lr : float
        The step size eta used.
    lr_source : str
        ``"given"`` or how the default was derived.
    steps : ndarray of int, shape (K,)
        The tracked steps k: 0, track_every, 2 track_every, ..., and the last.
    loss : ndarray, shape (K,)
        ``L(k) = 1/2 ||u(k) - y||^2``.
    loss_every_step : ndarray, shape (S + 1,)
        The loss at every step 0..S.
    bound : ndarray, shape (K,)
        ``(1 - eta lambda_0 / 2)^k L(0)`` (Theorems 4.1 ICLR, 5.1, 6.1, 7.1).
    gram_change : GramSeries
        ``||H(k) - H(0)||_2`` (spectral norm).
    gram_change_rel : GramSeries
        ``||H(k) - H(0)||_F / ||H(0)||_F`` (Lee et al. 2019's diagnostic).
    lambda_min : GramSeries
        ``lambda_min(H(k))``.
    gram_change_coherent : ndarray, shape (K,), or None
        ``sqrt(max(<D_A, D_B>_F, 0))``, the part of the change of the paper's
        Gram common to all its neurons (docs/math.md §6b): ``D_A = G_A(k) -
        G_A(0)`` of the Gram of a fixed random half ``A`` of the neurons of
        layer H (TwoLayer: the hidden neurons), normalised as a full Gram, and
        ``D_B`` of the other half. The halves are
        ``numpy.random.default_rng([seed, SPLIT_STREAM]).permutation(width)``
        split at ``width // 2`` (``ntkgd.finite._gram_split``), independent of
        the weights. None for ``width < 2``.
    gram_change_incoherent : ndarray, shape (K,), or None
        ``||D_A - D_B||_F / 2``, the neuron-level noise of the change.
    gram_change_halves_inner : ndarray, shape (K,), or None
        The signed ``<D_A, D_B>_F`` (negative when the noise hides the common
        part); ``||G^(H)(k) - G^(H)(0)||_F^2 = inner + incoherent^2`` for even width.
    layer_names : tuple of str
        The trained weight groups: ``"W1" .. "WH"`` and ``"a"`` (not for TwoLayer).
    weight_change : ndarray, shape (K, len(layer_names))
        ``||W^(h)(k) - W^(h)(0)||_F`` (``||a(k) - a(0)||_2`` for ``a``).
    weight_norm0 : ndarray, shape (len(layer_names),)
        ``||W^(h)(0)||_F``, for relative changes.
    max_row_change : ndarray, shape (K, H)
        ``max_r ||w_r^(h)(k) - w_r^(h)(0)||_2`` over the rows (neurons, or
        output channels) of each hidden layer; for TwoLayer the ICLR paper's
        (2, inf) distance.
    pattern_change : ndarray, shape (K, H), or None
        ReLU only: the fraction of (input, neuron[, pixel]) pairs of each
        hidden layer with ``1{g(k) > 0} != 1{g(0) > 0}``.
    u : ndarray, shape (K, n)
        The network's outputs.
    u_linear : ndarray, shape (K, n)
        ``y + (I - eta Theta)^k (u(0) - y)`` with the analytic NTK Theta.
    u_linear_init : ndarray, shape (K, n)
        The same with the network's own ``G(0)``.
    y : ndarray, shape (n,)
    u_test : ndarray, shape (K, n_test), or None
        With ``X_test``: the network's outputs on the test points.
    u_test_linear : ndarray, shape (K, n_test), or None
        The linearised network on the test points (Lee et al. 2019): GD on
        the linear model of the analytic NTK, from this network's initial
        outputs ``u(0)``, ``u_test(0)`` (:func:`ntkgd.predict`); the finite
        network approaches it as the width grows, at about ``m^-1/2``.
    u_test_kernel : ndarray, shape (K, n_test), or None
        The infinite-width mean prediction (from zero outputs).
    y_test : ndarray, shape (n_test,), or None
        Test targets, if given.
    lambda_0 : float
        ``lambda_min`` of the analytic paper's Gram ``K^(H)`` (TwoLayer: ``H^inf``).
    ntk_lambda_min, ntk_lambda_max : float
        Extreme eigenvalues of the analytic NTK.
    init_paper, init_ntk : ndarray, shape (n, n)
        ``G^(H)(0)`` and ``G(0)``: the network's Grams at initialisation
        (equal to ``ntkgd.empirical_gram(arch, X, width, seed)``'s ``paper`` and ``ntk``).
    init_lambda_max : float
        ``lambda_max(G(0))`` of this network; GD is stable for ``eta < 2 / init_lambda_max``.
    diverged : bool
    message : str or None
        Why the run stopped early, if it did.
    seconds : float
        Wall time of the whole run (analytic Gram and compilation included).
    """

    arch: object
    width: int
    seed: int
    lr: float
    lr_source: str
    steps: np.ndarray
    loss: np.ndarray
    loss_every_step: np.ndarray = field(repr=False)
    bound: np.ndarray = field(repr=False)
    gram_change: GramSeries = field(repr=False)
    gram_change_rel: GramSeries = field(repr=False)
    lambda_min: GramSeries = field(repr=False)
    layer_names: tuple = ()
    weight_change: np.ndarray = field(default=None, repr=False)
    weight_norm0: np.ndarray = field(default=None, repr=False)
    max_row_change: np.ndarray = field(default=None, repr=False)
    pattern_change: np.ndarray | None = field(default=None, repr=False)
    u: np.ndarray = field(default=None, repr=False)
    u_linear: np.ndarray = field(default=None, repr=False)
    u_linear_init: np.ndarray = field(default=None, repr=False)
    y: np.ndarray = field(default=None, repr=False)
    u_test: np.ndarray | None = field(default=None, repr=False)
    u_test_linear: np.ndarray | None = field(default=None, repr=False)
    u_test_kernel: np.ndarray | None = field(default=None, repr=False)
    y_test: np.ndarray | None = field(default=None, repr=False)
    init_paper: np.ndarray = field(default=None, repr=False)
    init_ntk: np.ndarray = field(default=None, repr=False)
    gram_change_coherent: np.ndarray | None = field(default=None, repr=False)
    gram_change_incoherent: np.ndarray | None = field(default=None, repr=False)
    gram_change_halves_inner: np.ndarray | None = field(default=None, repr=False)
    lambda_0: float = math.nan
    ntk_lambda_min: float = math.nan
    ntk_lambda_max: float = math.nan
    init_lambda_max: float = math.nan
    diverged: bool = False
    message: str | None = None
    seconds: float = 0.0

    @property
    def n(self) -> int:
        """Number of training inputs."""
        return int(self.y.shape[0])

    @property
    def loss_linear(self) -> np.ndarray:
        """``1/2 ||u_linear(k) - y||^2``, shape (K,): the infinite-width linearised loss."""
        return 0.5 * np.sum((self.u_linear - self.y) ** 2, axis=1)

    @property
    def loss_linear_init(self) -> np.ndarray:
        """``1/2 ||u_linear_init(k) - y||^2``, shape (K,)."""
        return 0.5 * np.sum((self.u_linear_init - self.y) ** 2, axis=1)

    @property
    def test_gap(self) -> np.ndarray | None:
        """``||u_test(k) - u_test_linear(k)||_2 / sqrt(n_test)``, shape (K,): the network against its
        infinite-width linearisation on the test points (RMS over points); None without ``X_test``."""
        if self.u_test is None:
            return None
        return np.sqrt(mean_square_error(self.u_test, self.u_test_linear))

    @property
    def test_mse(self) -> np.ndarray | None:
        """``mean_x (u_test(k) - y_test)^2``, shape (K,); None without ``y_test``."""
        return None if self.y_test is None else mean_square_error(self.u_test, self.y_test)

    @property
    def test_mse_kernel(self) -> np.ndarray | None:
        """The same for the infinite-width mean prediction ``u_test_kernel``; None without ``y_test``."""
        return None if self.y_test is None else mean_square_error(self.u_test_kernel, self.y_test)

    @property
    def bound_every_step(self) -> np.ndarray:
        """The theory bound at every step 0..S, shape (S + 1,)."""
        return bound(np.arange(self.loss_every_step.size), self.lr, self.lambda_0, self.loss_every_step[0])

    @property
    def rel_weight_change(self) -> np.ndarray:
        """``||W^(h)(k) - W^(h)(0)||_F / ||W^(h)(0)||_F``, shape (K, len(layer_names))."""
        return self.weight_change / self.weight_norm0

    @property
    def gram_change_coherent_rel(self) -> np.ndarray | None:
        """``gram_change_coherent / ||G^(H)(0)||_F``, shape (K,), as ``gram_change_rel.paper`` is relative; or None."""
        if self.gram_change_coherent is None:
            return None
        return self.gram_change_coherent / np.linalg.norm(self.init_paper)

    @property
    def gram_change_incoherent_rel(self) -> np.ndarray | None:
        """``gram_change_incoherent / ||G^(H)(0)||_F``, shape (K,); or None."""
        if self.gram_change_incoherent is None:
            return None
        return self.gram_change_incoherent / np.linalg.norm(self.init_paper)

    def arrays(self) -> dict:
        """Every per-step array, by name (for ``.npz`` result files)."""
        out = {
            "steps": self.steps, "loss": self.loss, "loss_every_step": self.loss_every_step, "bound": self.bound,
            "gram_change_paper": self.gram_change.paper, "gram_change_ntk": self.gram_change.ntk,
            "gram_change_rel_paper": self.gram_change_rel.paper, "gram_change_rel_ntk": self.gram_change_rel.ntk,
            "lambda_min_paper": self.lambda_min.paper, "lambda_min_ntk": self.lambda_min.ntk,
            "weight_change": self.weight_change, "weight_norm0": self.weight_norm0,
            "max_row_change": self.max_row_change, "u": self.u, "u_linear": self.u_linear,
            "u_linear_init": self.u_linear_init, "y": self.y, "init_paper": self.init_paper,
            "init_ntk": self.init_ntk,
        }  # fmt: skip
        if self.pattern_change is not None:
            out["pattern_change"] = self.pattern_change
        for name in ("u_test", "u_test_linear", "u_test_kernel", "y_test", *_SPLIT):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def summary(self) -> dict:
        """JSON-ready scalars: the run's settings, the final values and the maxima over k (non-finite: None)."""
        last = -1
        record = {
            "arch": self.arch.describe(), "width": self.width, "seed": self.seed, "n": self.n,
            "lr": self.lr, "lr_source": self.lr_source,
            "steps_done": int(self.loss_every_step.size - 1), "diverged": self.diverged, "message": self.message,
            "lambda_0": self.lambda_0, "ntk_lambda_min": self.ntk_lambda_min, "ntk_lambda_max": self.ntk_lambda_max,
            "init_lambda_max": self.init_lambda_max,
            "loss_initial": float(self.loss[0]), "loss_final": float(self.loss[last]),
            "bound_final": float(self.bound[last]), "loss_linear_final": float(self.loss_linear[last]),
            "loss_linear_init_final": float(self.loss_linear_init[last]),
            "loss_below_bound": bool(np.all(self.loss_every_step <= self.bound_every_step * (1 + 1e-12))),
            "max_gram_change_paper": float(np.max(self.gram_change.paper)),
            "max_gram_change_ntk": float(np.max(self.gram_change.ntk)),
            "final_gram_change_rel_paper": float(self.gram_change_rel.paper[last]),
            "final_gram_change_rel_ntk": float(self.gram_change_rel.ntk[last]),
            "min_lambda_min_paper": float(np.min(self.lambda_min.paper)),
            "min_lambda_min_ntk": float(np.min(self.lambda_min.ntk)),
            "layer_names": list(self.layer_names),
            "final_weight_change": self.weight_change[last].tolist(),
            "final_rel_weight_change": self.rel_weight_change[last].tolist(),
            "final_max_row_change": self.max_row_change[last].tolist(),
            "final_pattern_change": None if self.pattern_change is None else self.pattern_change[last].tolist(),
            "seconds": self.seconds,
        }  # fmt: skip
        if self.gram_change_coherent is not None:
            record["max_gram_change_coherent"] = float(np.max(self.gram_change_coherent))
            record["max_gram_change_incoherent"] = float(np.max(self.gram_change_incoherent))
            record["final_gram_change_halves_inner"] = float(self.gram_change_halves_inner[last])
            record["final_gram_change_coherent_rel"] = float(self.gram_change_coherent_rel[last])
            record["final_gram_change_incoherent_rel"] = float(self.gram_change_incoherent_rel[last])
        if self.u_test is not None:
            record["n_test"] = int(self.u_test.shape[1])
            record["max_test_gap"] = float(np.max(self.test_gap))
        if self.y_test is not None:
            record["test_mse_final"] = float(self.test_mse[last])
            record["test_mse_kernel_final"] = float(self.test_mse_kernel[last])
        return {key: finite_or_none(value) for key, value in record.items()}  # a diverged prediction: None


def mean_square_error(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``mean_x (outputs - targets)^2`` over the points (the last axis): shape (K,) for (K, n_test) outputs."""
    return np.mean((np.asarray(outputs) - targets) ** 2, axis=-1)


def bound(k, lr: float, lambda_0: float, loss0: float) -> np.ndarray:
    """``(1 - lr lambda_0 / 2)^k L(0)`` at steps ``k`` (docs/math.md §6; lambda_0 <= 0 gives the flat L(0))."""
    rate = 1.0 - lr * max(lambda_0, 0.0) / 2.0
    return loss0 * np.power(rate, np.asarray(k, dtype=np.float64))
