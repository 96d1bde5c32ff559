"""``predict``: the infinite-width network's GD prediction on test points (and its linearisation).

In the infinite-width limit GD on ``1/2 ||u - y||^2`` moves the outputs as GD
on the linear model of the NTK ``Theta`` (docs/math.md §9c): on test points

    f(k) = f(0) - Theta(X_test, X_train) Theta^{-1} (I - (I - eta Theta)^k) (u(0) - y),

with ``u(0) = f(0) = 0`` for the infinite-width mean; with the network's own
initial outputs it is the linearised network of Lee et al. (2019), which a
finite network approaches as its width grows. The arithmetic is
:func:`ntkgd.linalg.linear_dynamics`; this module validates, computes the two
Grams and names the arguments in every message.
"""

from __future__ import annotations

import numpy as np

from ..analytic import analytic_gram
from ..core import check_fits_in_memory, format_bytes, real_array, validate_network_inputs, validate_paired_inputs
from ..linalg import check_schedule, linear_dynamics, parallel_rows
from ..specs import check_architecture

__all__ = ["KERNELS", "predict"]

#: ``kernel=``: the full NTK (every trained layer) or the paper's K^(H) (the last hidden layer's weights alone).
KERNELS = ("ntk", "paper")


def _targets(y, n: int, *, name: str, owner: str) -> np.ndarray:
    """``y`` as float64 of shape (n,) or (n, c), finite, or a ValueError naming ``name``."""
    array = real_array(y, owner=owner, name=name, expected=f"an array-like of n = {n} targets")
    if array.ndim not in (1, 2) or array.shape[0] != n or (array.ndim == 2 and array.shape[1] == 0):
        raise ValueError(
            f"{owner}: {name} must have shape ({n},) or ({n}, c): one target (or c outputs) per training input, "
            f"got shape {array.shape}."
        )
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        first = int(np.flatnonzero(~np.isfinite(array).reshape(n, -1).all(axis=1))[0])
        raise ValueError(f"{owner}: {name} contains NaN or inf (first at row {first}).")
    return array


def _initial(value, shape: tuple, *, name: str, owner: str) -> np.ndarray:
    array = real_array(value, owner=owner, name=name)
    if array.shape != shape:
        raise ValueError(f"{owner}: {name} must have shape {shape} (the network's outputs at k = 0), got {array.shape}.")
    array = np.asarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: {name} contains NaN or inf.")
    return array


def predict(arch, X_train, y_train, X_test, *, kernel: str = "ntk", steps=None, lr: float | None = None, t=None,
            initial_train=None, initial_test=None, backend: str = "numba",
            memory_limit: int | None = None) -> np.ndarray:  # fmt: skip
    """Mean prediction on ``X_test`` of GD on ``1/2 ||u - y||^2`` in the infinite-width limit.

    Parameters
    ----------
    arch : TwoLayer, FullyConnected, ResNet or ConvResNet
    X_train : array_like, shape (n, d) (ConvResNet: (n, channels, ...))
        Training inputs.
    y_train : array_like, shape (n,) or (n, c)
        Targets (c outputs are independent problems with the same kernel).
    X_test : array_like, shape (n_test, d) (ConvResNet: as X_train)
        Points to predict on.
    kernel : {"ntk", "paper"}
        The kernel that drives GD: the full NTK ``Theta`` (all trained
        layers, what GD on the network follows) or the paper's ``K^(H)``.
    steps : sequence of int, optional
        GD steps ``k`` at which to predict (``(I - eta K)^k`` through the
        eigendecomposition of the training kernel: stable for any k).
    lr : float, optional
        Step size eta for ``steps``; default ``1 / lambda_max`` of the
        training kernel (as :func:`ntkgd.train`). At or beyond
        ``2 / lambda_max`` it is refused (GD diverges).
    t : sequence of float, optional
        Gradient-flow times instead of steps. With neither: at convergence,
        ``K(X_test, X_train) K^{-1} y`` (Cholesky; a singular training kernel
        is refused, naming the repeated training inputs).
    initial_train, initial_test : array_like, optional
        The network's outputs at initialisation on ``X_train`` (n, ...) and
        ``X_test`` (n_test, ...), both or neither: the prediction is then the
        linearised network's (Lee et al. 2019). Default: zero.
    backend : str
        Backend of the analytic Grams (:func:`ntkgd.analytic_gram`).
    memory_limit : int, optional
        Bytes the computation may use; default 90% of the available memory.

    Returns
    -------
    ndarray
        ``(n_test,) + y_train.shape[1:]`` at convergence;
        ``(len(steps), n_test) + y_train.shape[1:]`` with ``steps`` or ``t``.

    Examples
    --------
    >>> import numpy as np, ntkgd
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> arch = ntkgd.TwoLayer("relu")
    >>> ntkgd.predict(arch, X, np.array([1.0, -1.0]), X[:1])  # interpolates the training points
    array([1.])
    >>> ntkgd.predict(arch, X, np.array([1.0, -1.0]), X[:1], steps=[0, 1], lr=1.0)  # K = I / 2
    array([[0. ],
           [0.5]])
    """
    owner = "predict"
    check_architecture(arch, owner)
    if kernel not in KERNELS:
        raise ValueError(f"{owner}: kernel must be one of {KERNELS}, got {kernel!r}.")
    X_train = validate_network_inputs(X_train, convolutional=arch.convolutional, owner=owner, name="X_train")
    X_test = validate_paired_inputs(X_test, X_train, convolutional=arch.convolutional, owner=owner, name="X_test",
                                    first="X_train")  # fmt: skip
    n, n_test = X_train.shape[0], X_test.shape[0]
    y = _targets(y_train, n, name="y_train", owner=owner)
    if (initial_train is None) != (initial_test is None):
        raise ValueError(f"{owner}: give initial_train and initial_test together (the network's outputs on both sets).")
    u0 = f0 = None
    if initial_train is not None:
        u0 = _initial(initial_train, y.shape, name="initial_train", owner=owner)
        f0 = _initial(initial_test, (n_test,) + y.shape[1:], name="initial_test", owner=owner)
    steps, t = check_schedule(steps, t, owner)
    if lr is not None and steps is None:
        raise ValueError(f"{owner}: lr= is the step size of steps=; give steps= too (t= and convergence need no lr).")
    schedule = next((len(s) for s in (steps, t) if s is not None), 1)
    check_fits_in_memory(
        8 * (3 * n * n + 2 * n_test * n + schedule * n_test * (y.size // n)),
        owner=owner,
        what=f"the training kernel ({format_bytes(8 * n * n)}), its eigenvectors and the cross-Gram for n = {n}, "
        f"n_test = {n_test}",
        limit=memory_limit,
        suggestion="Use fewer training points, or predict the test points in batches.",
    )
    train_gram = analytic_gram(arch, X_train, backend=backend, outputs=(kernel,), memory_limit=memory_limit)
    cross_gram = analytic_gram(arch, X_test, X_train, backend=backend, outputs=(kernel,), memory_limit=memory_limit)
    K, C = getattr(train_gram, kernel), getattr(cross_gram, kernel)

    def duplicates() -> str:
        groups = parallel_rows(X_train.reshape(n, -1))
        if not groups:
            return ""
        shown = ", ".join(str(group) for group in groups[:5])
        more = f" and {len(groups) - 5} more" if len(groups) > 5 else ""
        return f"; X_train has parallel (repeated after scaling) rows {shown}{more}"

    return linear_dynamics(K, y, C, lr=lr, steps=steps, times=t, initial=u0, initial_cross=f0, owner=owner,
                           duplicates=duplicates)  # fmt: skip
