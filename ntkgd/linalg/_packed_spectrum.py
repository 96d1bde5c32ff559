"""The spectrum of a Gram too large for a dense n x n array: packed Cholesky, inverse Lanczos, a true residual.

The Gram arrives as the block rows of its lower triangle
(:class:`ntkgd.core.PackedLower`, about ``4 n^2`` bytes). In order:

1. parallel feature vectors are looked for in the stored entries, and
   ``lambda_max`` is found by Lanczos with products from the stored triangle;
2. the block rows are overwritten by the Cholesky factor ``K = L L^T``
   (success proves ``lambda_min > 0`` to the factorisation's backward error);
3. ``y^T K^-1 y`` for the labels, by one solve;
4. ``lambda_min`` by block Lanczos on ``K^{-1}`` (the same iteration as the dense
   Krylov path, :func:`ntkgd.linalg._eigensolvers._lanczos`), each step one
   block solve with the packed factor;
5. the Ritz vector ``v`` is checked against K itself: ``K v`` is recomputed
   tile by tile by the caller's ``product`` (K is gone from memory), giving
   the Rayleigh quotient ``rho = v^T K v >= lambda_min`` and the residual
   ``||K v - rho v||``, within which some eigenvalue of K lies.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ._eigensolvers import _lanczos, largest_eigenvalue, refine
from ._parallel import describe_groups, packed_parallel_rows
from ._lambda_min import Smallest, warn_if_not_converged
from ._spectrum import SingularGramError, Spectrum, _label_targets, _note, _quadratic_form

__all__ = ["packed_spectrum"]


class _PackedWork:
    """What :func:`_lanczos` needs of a factorised workspace: ``n``, ``shift`` and ``solve``."""

    shift = 0.0

    def __init__(self, packed):
        self.n = packed.n
        self.solve = packed.solve


def packed_spectrum(
    packed,
    product: Callable[[np.ndarray], np.ndarray],
    y=None,
    *,
    label_encoding: str = "auto",
    more_labels: dict | None = None,
    block: int = 4,
    max_steps: int = 150,
    tol: float = 1e-12,
    progress: Callable[[str], None] | None = None,
) -> Spectrum:
    """lambda_min (with a residual against K), lambda_max and ``y^T K^-1 y`` of a packed Gram.

    Parameters
    ----------
    packed : PackedLower
        The Gram's lower triangle; it is overwritten by its Cholesky factor.
    product : callable
        ``product(V)`` = ``K V`` for V of shape (n,), recomputed from the
        inputs (e.g. :func:`ntkgd.analytic.gram_product`); called once.
    y : array_like, shape (n,), optional
        Labels, encoded by ``label_encoding`` as in :func:`ntkgd.spectrum`.
    more_labels : dict of str to array_like, optional
        Further label vectors, as in :func:`ntkgd.spectrum`.
    block, max_steps, tol
        Block Lanczos on ``K^{-1}``: vectors per block, most block steps,
        relative accuracy asked of lambda_min.
    progress : callable, optional
        Called with a short description of each stage and step.

    Returns
    -------
    Spectrum
        Without eigenvalues or projections; ``lower_bound`` is 0 (the
        factorisation of K itself succeeded).

    Raises
    ------
    SingularGramError
        The Cholesky factorisation of K fails: K is not positive definite to
        working precision (the message names parallel rows, if any).
    """
    report = progress or (lambda message: None)
    n = packed.n
    seconds: dict = {}
    Y, used_encoding, extra = _label_targets(y, more_labels, n, label_encoding, "packed_spectrum")

    t0 = time.perf_counter()
    report("parallel rows")
    groups = packed_parallel_rows(packed)
    seconds["checks"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report("lambda_max")
    high, _ = largest_eigenvalue(packed.matmul, n)
    seconds["lambda_max"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    info = packed.cholesky(progress=lambda fraction: report(f"Cholesky factorisation {100 * fraction:.0f}%"))
    seconds["cholesky"] = time.perf_counter() - t0
    if info:
        detail = f" Rows with parallel feature vectors: {describe_groups(groups)}." if groups else ""
        raise SingularGramError(
            f"packed_spectrum: the Cholesky factorisation of K failed at row {info} of {n}: K is not positive "
            f"definite to working precision, so lambda_min is at rounding level (or below).{detail}"
        )

    threshold = n * np.finfo(float).eps * max(high, 0.0)
    results = {}
    if Y is not None:
        t0 = time.perf_counter()
        report("y^T H^-1 y")
        for name, labels in {None: Y, **extra}.items():
            results[name] = _quadratic_form(packed, labels)
        seconds["y_inv_y"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    block = max(1, min(block, n // 4))
    work = _PackedWork(packed)
    run = _lanczos(
        work, block=block, max_steps=max(2, min(max_steps, (n - 1) // block)), tol=tol,
        rng=np.random.default_rng(0), start=None, step_offset=0,
        progress=lambda step, estimate: report(f"Lanczos step {step}, lambda_min ~ {estimate:.6e}"),
    )  # fmt: skip
    v = refine(work, run.vector)
    seconds["lambda_min"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report("residual against K (recomputed)")
    Kv = product(v)
    rho = float(v @ Kv)
    residual = float(np.linalg.norm(Kv - rho * v))
    seconds["residual"] = time.perf_counter() - t0

    singular = rho <= threshold
    method = (
        f"packed Cholesky (block rows of {packed.block}) and block Lanczos on K^-1 ({run.steps} solves of "
        f"{block} vectors, then one refining solve); residual against K recomputed"
    )
    if not run.converged:
        method += "; NOT converged: see the residual"
    warn_if_not_converged(Smallest(rho, v, residual, 0.0, method, run.steps, run.converged), "packed_spectrum")
    generalization = {name: (float(np.sqrt(2 * value / n)) if not singular else None) for name, value in
                      results.items()}  # fmt: skip
    return Spectrum(
        n=n,
        lambda_min=rho,
        lambda_max=high,
        condition_number=None if singular else high / rho,
        singular=bool(singular),
        singular_threshold=float(threshold),
        parallel_rows=groups,
        residual=residual,
        lower_bound=0.0,
        method=method,
        vector=v,
        converged=run.converged,
        y_inv_y=None if singular else results.get(None),
        generalization=generalization.get(None),
        label_encoding=used_encoding,
        more_labels={
            name: {"y_inv_y": None if singular else results[name], "generalization": generalization[name],
                   "projections": None}
            for name in extra
        },  # fmt: skip
        seconds=seconds,
        note=_note(singular, groups, rho, threshold),
    )
