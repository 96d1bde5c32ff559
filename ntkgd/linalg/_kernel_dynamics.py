"""Gradient descent on a linear model with a fixed kernel: outputs at any step, time or at convergence.

With the loss ``1/2 ||u - y||^2`` (no 1/n, docs/math.md §1) and the kernel
``K`` of the training inputs fixed, GD on the outputs is

    u(k+1) = u(k) - eta K (u(k) - y),       f(k+1) = f(k) - eta C (u(k) - y)

for the training outputs ``u`` and the outputs ``f`` on other points, with
``C = K(X_test, X_train)``. This is the infinite-width limit of GD on the
network (docs/math.md §9c) and, with the network's own initial outputs
``u(0)``, ``f(0)``, its linearisation (Lee et al. 2019). The residual is
``r(k) = (I - eta K)^k r(0)``, so with ``K = V diag(lambda) V^T``

    f(k) = f(0) - C V diag(g_k(lambda)) V^T r(0),    g_k(lambda) = (1 - (1 - eta lambda)^k) / lambda,

``g_k -> eta k`` as ``lambda -> 0``; for gradient flow ``g_t(lambda) =
(1 - exp(-lambda t)) / lambda``; at convergence ``f = f(0) + C K^{-1}
(y - u(0))`` (kernel regression), by a Cholesky factorisation. ``g`` is
evaluated with ``expm1``/``log1p``, so every k and t is stable and exact
where ``eta lambda`` is tiny; a singular ``K`` (repeated inputs) is fine at
any finite k or t, and refused at convergence.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..core import check_step_size, cholesky_inplace

__all__ = ["check_schedule", "gd_factors", "kernel_regression", "linear_dynamics"]


def gd_factors(values: np.ndarray, *, lr: float | None = None, steps=None, times=None) -> np.ndarray:
    """``g(lambda)`` for each schedule point: shape (len(schedule), len(values)).

    Parameters
    ----------
    values : ndarray, shape (n,)
        Eigenvalues of the training kernel (tiny negative rounding allowed).
    lr, steps : float, sequence of int
        GD steps ``k`` with step size ``eta``: ``(1 - (1 - eta lambda)^k) / lambda``.
    times : sequence of float
        Gradient-flow times ``t``: ``(1 - exp(-lambda t)) / lambda``.
    """
    lam = np.asarray(values, dtype=np.float64)[None, :]
    safe = np.where(lam == 0.0, 1.0, lam)
    if times is not None:
        t = np.asarray(times, dtype=np.float64)[:, None]
        decayed = -np.expm1(-lam * t)
        return np.where(lam == 0.0, t + 0.0 * lam, decayed / safe)
    k = np.asarray(steps, dtype=np.float64)[:, None]
    step = lr * lam
    positive = step < 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        # 1 - (1 - eta lambda)^k: by expm1(k log1p(-eta lambda)) where 1 - eta lambda > 0 (no cancellation
        # for small eta lambda); directly where it is in (-1, 0], where eta lambda >= 1 rules out cancellation.
        smooth = -np.expm1(k * np.log1p(-np.where(positive, step, 0.0)))
        direct = 1.0 - np.power(1.0 - np.where(positive, 0.0, step), k)
    done = np.where(positive, smooth, direct)
    return np.where(lam == 0.0, lr * k + 0.0 * lam, done / safe)


def check_schedule(steps, times, owner: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(steps, times)`` validated: one of them a 1-D array, or both None (convergence); refuses both or bad values."""
    if steps is not None and times is not None:
        raise ValueError(f"{owner}: give steps= (GD steps) or t= (gradient-flow times), not both.")
    if steps is not None:
        array = np.atleast_1d(np.asarray(steps))
        if array.ndim != 1 or array.size == 0 or not all(isinstance(v, numbers.Integral) for v in array.tolist()) \
                or (array < 0).any():  # fmt: skip
            raise ValueError(f"{owner}: steps must be a non-empty sequence of integers >= 0, got {steps!r}.")
        return array.astype(np.int64), None
    if times is not None:
        array = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all() or (array < 0).any():
            raise ValueError(f"{owner}: t must be a non-empty sequence of finite times >= 0, got {times!r}.")
        return None, array
    return None, None


def kernel_regression(K: np.ndarray, residual: np.ndarray, *, owner: str, duplicates=None) -> np.ndarray:
    """``K^{-1} residual`` by Cholesky, or a ValueError saying why ``K`` is singular.

    The factorisation is :func:`ntkgd.core.cholesky_inplace` on a copy: LAPACK's
    dpotrf where it is safe, a blocked factorisation without the symmetric
    rank-k update where OpenBLAS's threaded one crashes at large n.

    Parameters
    ----------
    K : ndarray, shape (n, n)
        Symmetric positive definite kernel.
    residual : ndarray, shape (n,) or (n, c)
    duplicates : callable, optional
        ``duplicates() -> str``: which training points repeat, named in the message.
    """
    factor = np.array(K, dtype=np.float64, order="F", copy=True)
    if cholesky_inplace(factor) != 0:
        values = np.linalg.eigvalsh(K)
        repeat = "" if duplicates is None else duplicates()
        raise ValueError(
            f"{owner}: the training kernel is singular to working precision (lambda_min = {values[0]:.3g}, "
            f"lambda_max = {values[-1]:.3g}){repeat}, so the prediction at convergence (kernel regression) is not "
            "defined. Remove repeated or nearly repeated training inputs, or ask for finite steps= or t=."
        ) from None
    import scipy.linalg  # lazily: ``ntkgd --help`` imports no SciPy

    return scipy.linalg.cho_solve((factor, True), residual, check_finite=False)


def linear_dynamics(K: np.ndarray, y: np.ndarray, cross: np.ndarray | None = None, *, lr: float | None = None,
                    steps=None, times=None, initial: np.ndarray | None = None,
                    initial_cross: np.ndarray | None = None, owner: str = "linear_dynamics",
                    duplicates=None) -> np.ndarray:  # fmt: skip
    """Outputs of GD on the linear model with kernel ``K``, on the training points or on others.

    Parameters
    ----------
    K : ndarray, shape (n, n)
        The training kernel (e.g. the analytic NTK of ``X_train``).
    y : ndarray, shape (n,) or (n, c)
        Targets.
    cross : ndarray, shape (n_test, n), optional
        ``K(X_test, X_train)``: the outputs returned are then those on
        ``X_test``; without it, those on the training points.
    lr : float, optional
        Step size ``eta`` of ``steps`` (default ``1 / lambda_max(K)``);
        stable only below ``2 / lambda_max(K)``: at or beyond it is refused.
    steps : sequence of int, optional
        GD steps ``k`` at which to return the outputs.
    times : sequence of float, optional
        Gradient-flow times instead. With neither: at convergence.
    initial, initial_cross : ndarray, optional
        ``u(0)`` on the training points (n, ...) and ``f(0)`` on the others
        (n_test, ...); default zero (the infinite-width network's mean).
    owner : str
        The public function named in messages.
    duplicates : callable, optional
        See :func:`kernel_regression`.

    Returns
    -------
    ndarray
        ``(len(steps), m) + y.shape[1:]`` with ``steps`` or ``times``,
        ``(m,) + y.shape[1:]`` at convergence; ``m`` is ``n_test`` with
        ``cross``, ``n`` without.
    """
    steps, times = check_schedule(steps, times, owner)
    u0 = np.zeros_like(y) if initial is None else initial
    m = K.shape[0] if cross is None else cross.shape[0]
    if cross is None:
        f0 = u0
    else:
        f0 = np.zeros((m,) + y.shape[1:]) if initial_cross is None else initial_cross
    residual = u0 - y
    if steps is None and times is None:
        if cross is None:
            return np.array(y, dtype=np.float64, copy=True)
        return f0 - cross @ kernel_regression(K, residual, owner=owner, duplicates=duplicates)
    values, vectors = np.linalg.eigh(K)
    if steps is not None:
        lr = check_step_size(lr, owner=owner)
        if lr is None:
            lr = 1.0 / float(values[-1])
        if lr * values[-1] >= 2.0:
            raise ValueError(
                f"{owner}: lr = {lr:.6g} is at or beyond the stability limit 2 / lambda_max = {2.0 / values[-1]:.6g} "
                "of gradient descent on this kernel: the outputs would diverge. Use a smaller lr."
            )
    factors = gd_factors(values, lr=lr, steps=steps, times=times)  # (schedule, n)
    coords = vectors.T @ residual.reshape(K.shape[0], -1)  # (n, c)
    if cross is None:
        mapped = vectors * values[None, :]  # K V = V diag(lambda)
    else:
        mapped = cross @ vectors  # (m, n)
    moved = np.einsum("mn,sn,nc->smc", mapped, factors, coords, optimize=True)
    return f0[None] - moved.reshape((len(factors), m) + y.shape[1:])
