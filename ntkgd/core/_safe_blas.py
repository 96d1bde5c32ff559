"""Large symmetric products and Cholesky factorisations that never call BLAS ``syrk``.

Why: OpenBLAS 0.3.31's threaded symmetric rank-k update (``dsyrk``) crashes with
SIGSEGV on AVX-512 hosts (its SkylakeX kernels) once the output passes about
16,000 x 16,000. NumPy turns ``X @ X.T`` into ``syrk``, and LAPACK's ``dpotrf``
calls ``syrk`` for its trailing updates, so both the input product ``x_i . x_j``
and the Cholesky factorisation behind ``lambda_min`` crash there. This module
builds both from ``gemm`` (which NumPy uses whenever the two operands are
different buffers), small ``potrf`` calls and ``trsm``:

* :func:`lower_gram` computes the lower triangle of ``X X^T`` row block by row
  block with ``gemm`` (half the flops of a full product, as ``syrk`` has);
* :func:`cholesky_lower_inplace` is a recursive Cholesky whose symmetric
  updates are split into gemm calls (a leaf of at most 256 rows is a gemm into
  a small scratch block). The BLAS and LAPACK routines are SciPy's
  (``scipy.linalg.cython_blas`` / ``cython_lapack``), called through their
  function pointers on the caller's buffer with a leading dimension, so nothing
  is copied.

:func:`lower_gram` is as fast as syrk and is always used. The recursive
Cholesky is within about 15% of LAPACK's (measured at n = 20,000 on an AMD EPYC
host: 36.5 s against 32.3 s), so :func:`cholesky_inplace` keeps LAPACK's dpotrf
where SciPy's BLAS is known to be safe (OpenBLAS with AVX2-or-older kernels, or
another BLAS) and takes the syrk-free path everywhere else (docs/design.md,
"Safe BLAS at large n").
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np

__all__ = ["cholesky_inplace", "cholesky_lower_inplace", "lapack_cholesky_is_safe", "lower_gram"]

#: Rows per gemm call in :func:`lower_gram`.
_GRAM_BLOCK = 2048
#: Rows of the diagonal sub-blocks of lower_gram: their saved squares are at most 512 kB.
_DIAGONAL_BLOCK = 256

#: Order of the leaves of the recursive Cholesky, which go to LAPACK's dpotrf
#: (whose own syrk is then at most 256 x 256, far below the sizes that crash).
CHOLESKY_LEAF = 256


@cache
def _strict_upper(size: int) -> np.ndarray:
    """Boolean mask of the strict upper triangle of a ``size x size`` square (at most two sizes per n)."""
    return np.triu(np.ones((size, size), dtype=bool), 1)


def lower_gram(X: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fill the lower triangle (with the diagonal) of ``out`` with ``X X^T``, using gemm only.

    Parameters
    ----------
    X : ndarray, shape (n, d), float64, C-contiguous
    out : ndarray, shape (n, n), float64, C-contiguous
        Its strict upper triangle is left as it was.

    Returns
    -------
    out

    Notes
    -----
    Row block ``[r0, r1)`` is one gemm ``X[r0:r1] @ X[:r0].T`` for the columns
    left of the block, then, in sub-blocks of ``_DIAGONAL_BLOCK`` rows, a gemm
    of each sub-block against the block's columns up to its own last row. The
    right operand of the latter is a copy, so that NumPy never sees ``A @ A.T``
    (which it sends to syrk). A sub-block also writes the few entries above
    the diagonal within its own square; they are restored from a saved copy of
    that square. The scratch is one sub-block square (512 kB) whatever n:
    nothing of the size of a block's triangle is indexed or copied.
    """
    n = X.shape[0]
    for r0 in range(0, n, _GRAM_BLOCK):
        r1 = min(n, r0 + _GRAM_BLOCK)
        rows = X[r0:r1]
        if r0 > 0:
            np.matmul(rows, X[:r0].T, out=out[r0:r1, :r0])
        square = rows.copy()
        for s0 in range(0, r1 - r0, _DIAGONAL_BLOCK):
            s1 = min(r1 - r0, s0 + _DIAGONAL_BLOCK)
            target = out[r0 + s0 : r0 + s1, r0 : r0 + s1]
            corner = target[:, s0:s1]  # the sub-block's own square; its strict upper part is not ours
            above = _strict_upper(s1 - s0)
            kept = corner[above]  # copied, not added: a fresh buffer may hold NaN or inf there
            np.matmul(rows[s0:s1], square[:s1].T, out=target)
            corner[above] = kept
    return out


# ---------------------------------------------------------------------------- raw BLAS / LAPACK

_char_p = ctypes.c_char_p
_int_p = ctypes.POINTER(ctypes.c_int)
_ptr = ctypes.c_void_p


def _capsule_address(capsule) -> int:
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return pointer(capsule, name(capsule))


@cache
def _routines():
    """SciPy's Fortran-convention dgemm, dtrsm and dpotrf as ctypes functions."""
    from scipy.linalg import cython_blas, cython_lapack

    dgemm = ctypes.CFUNCTYPE(None, _char_p, _char_p, _int_p, _int_p, _int_p, _ptr, _ptr, _int_p, _ptr, _int_p,
                             _ptr, _ptr, _int_p)  # fmt: skip
    dtrsm = ctypes.CFUNCTYPE(None, _char_p, _char_p, _char_p, _char_p, _int_p, _int_p, _ptr, _ptr, _int_p, _ptr,
                             _int_p)  # fmt: skip
    dpotrf = ctypes.CFUNCTYPE(None, _char_p, _int_p, _ptr, _int_p, _int_p)
    return (
        dgemm(_capsule_address(cython_blas.__pyx_capi__["dgemm"])),
        dtrsm(_capsule_address(cython_blas.__pyx_capi__["dtrsm"])),
        dpotrf(_capsule_address(cython_lapack.__pyx_capi__["dpotrf"])),
    )


#: OpenBLAS core names (``openblas_get_corename``, as threadpoolctl reports them)
#: whose kernels have no AVX-512 and whose threaded syrk has not been seen to crash.
_SAFE_OPENBLAS_CORES = frozenset({
    "haswell", "zen", "sandybridge", "nehalem", "core2", "penryn", "dunnington", "prescott", "atom",
    "barcelona", "bobcat", "bulldozer", "piledriver", "steamroller", "excavator", "opteron", "opteron_sse3",
})  # fmt: skip


@cache
def lapack_cholesky_is_safe() -> bool:
    """Whether LAPACK's dpotrf (through SciPy) can run on any n here without reaching the crashing syrk.

    True when no OpenBLAS is loaded (e.g. MKL), or every OpenBLAS runs kernels of a core in
    ``_SAFE_OPENBLAS_CORES`` (AVX2 or older); False for the AVX-512 kernels
    (SkylakeX, Cooperlake, SapphireRapids) and for any core not known.
    """
    import scipy.linalg  # noqa: F401 - loads SciPy's BLAS so that threadpoolctl sees it
    from threadpoolctl import threadpool_info

    # Every OpenBLAS in the process (NumPy's and SciPy's each bundle one) runs on
    # the same CPU, so one unsafe core name rules LAPACK out.
    openblas = [info for info in threadpool_info() if info.get("internal_api") == "openblas"]
    return all(str(info.get("architecture", "")).lower() in _SAFE_OPENBLAS_CORES for info in openblas)


def cholesky_inplace(a: np.ndarray) -> int:
    """LAPACK's dpotrf where it is safe (:func:`lapack_cholesky_is_safe`), else :func:`cholesky_lower_inplace`.

    Same contract as :func:`cholesky_lower_inplace`: the lower triangle of the
    Fortran-ordered ``a`` gets the factor, the strict upper triangle is kept,
    and the return value is LAPACK's ``info``.
    """
    if not lapack_cholesky_is_safe():
        return cholesky_lower_inplace(a)
    from scipy.linalg import lapack

    factor, info = lapack.dpotrf(a, lower=1, clean=0, overwrite_a=1)
    if not np.shares_memory(factor, a):  # pragma: no cover - scipy honours Fortran-ordered input
        raise RuntimeError("cholesky_inplace: LAPACK copied the matrix; cannot factorise in place.")
    return int(info)


def _i(value: int):
    return ctypes.byref(ctypes.c_int(value))


def _d(value: float):
    return ctypes.cast(ctypes.pointer(ctypes.c_double(value)), _ptr)


def cholesky_lower_inplace(a: np.ndarray, leaf: int = CHOLESKY_LEAF) -> int:
    """Cholesky ``A = L L^T`` into the lower triangle of the Fortran-ordered ``a``, without syrk.

    Parameters
    ----------
    a : ndarray, shape (n, n), float64, Fortran-contiguous
        Only its lower triangle (with the diagonal) is read and written; the
        strict upper triangle is never touched.
    leaf : int
        Blocks of at most this order go to LAPACK's dpotrf (and the
        triangular updates of this size to a gemm into a scratch block).

    Returns
    -------
    info : int
        0 on success; otherwise ``k > 0`` such that the leading minor of order
        k is not positive definite (LAPACK's convention). The lower triangle
        then holds a partial factorisation.

    Notes
    -----
    Recursive Cholesky (Gustavson 1997; Ahmed and Pingali 2000). With
    ``A = [[A11, .], [A21, A22]]`` split in halves:

    1. ``A11 = L11 L11^T`` recursively;
    2. ``L21 = A21 L11^{-T}`` (one trsm);
    3. ``A22 <- A22 - L21 L21^T`` on the lower triangle only, itself split in
       halves: the off-diagonal half is one gemm, the two diagonal halves
       recurse, and a leaf is a gemm into scratch whose lower triangle is
       subtracted (this is where LAPACK calls syrk);
    4. ``A22 = L22 L22^T`` recursively.

    Almost all flops are in large square gemm calls, so the speed matches
    LAPACK's dpotrf (measured in docs/design.md).
    """
    if not (a.ndim == 2 and a.shape[0] == a.shape[1] and a.dtype == np.float64 and a.flags.f_contiguous):
        raise ValueError(
            f"cholesky_lower_inplace: a must be a square, Fortran-contiguous float64 array; got shape {a.shape}, "
            f"dtype {a.dtype}, f_contiguous={a.flags.f_contiguous}. Pass np.asfortranarray(a)."
        )
    dgemm, dtrsm, dpotrf = _routines()
    n = a.shape[0]
    lda = _i(max(n, 1))
    base, size = a.ctypes.data, a.itemsize
    one, minus_one, zero = _d(1.0), _d(-1.0), _d(0.0)
    scratch = np.empty((leaf, leaf), order="F")
    status = ctypes.c_int(0)

    def at(i: int, j: int):  # address of a[i, j] in column-major storage
        return _ptr(base + (i + j * n) * size)

    def lower_update(r0: int, m: int, c0: int, k: int) -> None:
        """Lower triangle of ``a[r0:r0+m, r0:r0+m] -= P P^T``, ``P = a[r0:r0+m, c0:c0+k]``."""
        if m <= leaf:
            s = scratch[:m, :m]
            dgemm(b"N", b"T", _i(m), _i(m), _i(k), one, at(r0, c0), lda, at(r0, c0), lda, zero,
                  _ptr(s.ctypes.data), _i(leaf))  # fmt: skip
            a[r0 : r0 + m, r0 : r0 + m] -= np.tril(s)  # the strict upper part loses exact zeros: unchanged
            return
        top = m // 2
        lower_update(r0, top, c0, k)
        dgemm(b"N", b"T", _i(m - top), _i(top), _i(k), minus_one, at(r0 + top, c0), lda, at(r0, c0), lda, one,
              at(r0 + top, r0), lda)  # fmt: skip
        lower_update(r0 + top, m - top, c0, k)

    def factor(j0: int, m: int) -> int:
        if m <= leaf:
            dpotrf(b"L", _i(m), at(j0, j0), lda, ctypes.byref(status))
            return j0 + status.value if status.value > 0 else status.value
        top = m // 2
        info = factor(j0, top)
        if info:
            return info
        dtrsm(b"R", b"L", b"T", b"N", _i(m - top), _i(top), one, at(j0, j0), lda, at(j0 + top, j0), lda)
        lower_update(j0 + top, m - top, j0, top)
        return factor(j0 + top, m - top)

    return factor(0, n) if n else 0
