"""A symmetric matrix stored as the block rows of its lower triangle, and its Cholesky factor in place.

Why: a dense n x n float64 matrix needs ``8 n^2`` bytes (28.8 GB at n = 60,000),
its lower triangle about half. :class:`PackedLower` keeps block row ``i`` (rows
``[s_i, e_i)``, columns ``[0, e_i)``) as one C-contiguous array, so a block row
and every prefix of it are ordinary strided matrices for BLAS, and
:meth:`PackedLower.cholesky` factorises ``A = L L^T`` in place, block row by
block row (left-looking), with only gemm, trsm and small potrf calls: no syrk,
which crashes in OpenBLAS's threaded AVX-512 kernels at large n (see
:mod:`ntkgd.core._safe_blas`). Solves with the factor read each block row
twice (forward, then backward substitution).

Layout: with block size ``b`` and ``N = ceil(n / b)`` block rows, block row i
is an array ``R_i`` of shape ``(e_i - s_i, e_i)`` whose tile ``R_i[:, s_j:e_j]``
is ``A_ij`` (then ``L_ij``) for ``j <= i``. The diagonal tile is stored whole
(its strict upper part is unused by the factor): ``n b / 2`` wasted numbers.
Memory: about ``4 n (n + b)`` bytes.

BLAS sees ``R_i`` in column-major order as ``F_i = R_i^T``, shape ``(e_i, b_i)``
with leading dimension ``e_i``; in that view block row i of L is block column i
of the upper factor ``U = L^T``, and the left-looking update of tile (i, j) is

    F_i[s_j:e_j] -= F_j[:s_j]^T F_i[:s_j]        (gemm, "T", "N")
    F_i[s_j:e_j]  = U_jj^{-T} F_i[s_j:e_j]        (trsm, left, upper, transposed)

with ``U_jj = F_j[s_j:e_j]``, i.e. ``L_ij = (A_ij - L_i,<j L_j,<j^T) L_jj^{-T}``.
The diagonal tile gets ``A_ii - L_i,<i L_i,<i^T`` (one gemm whose two operands
are the same buffer: a gemm, not a syrk) and is factorised by the recursive
syrk-free Cholesky of :mod:`ntkgd.core._safe_blas` on a b x b copy.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._safe_blas import _d, _i, _ptr, _routines, cholesky_lower_inplace

__all__ = ["PACKED_BLOCK", "PackedLower", "packed_bytes"]

#: Rows per block row: the gemm updates are (b x b x s) products, large enough
#: to run at the machine's gemm rate, and the diagonal waste n b / 2 stays small.
PACKED_BLOCK = 2048


def _starts(n: int, block: int) -> np.ndarray:
    return np.append(np.arange(0, n, block), n)


def packed_bytes(n: int, block: int = PACKED_BLOCK) -> int:
    """Bytes of the block rows of a :class:`PackedLower` of order n."""
    bounds = _starts(n, block)
    return int(sum(8 * (e - s) * e for s, e in zip(bounds[:-1], bounds[1:])))


class PackedLower:
    """The lower triangle of a symmetric n x n matrix in block rows (module docstring).

    Parameters
    ----------
    n : int
        Order of the matrix.
    block : int, default PACKED_BLOCK
        Rows per block row.

    Attributes
    ----------
    rows : list of ndarray
        Block row i, shape ``(e_i - s_i, e_i)``, C-contiguous; fill it with the
        matrix's rows ``[s_i, e_i)`` up to column ``e_i`` (the diagonal tile
        whole, or at least its lower triangle).
    bounds : ndarray of int, shape (N + 1,)
        ``s_i = bounds[i]``, ``e_i = bounds[i + 1]``.
    factored : bool
        Whether :meth:`cholesky` has succeeded (the rows then hold L).
    """

    def __init__(self, n: int, block: int = PACKED_BLOCK):
        if n < 1 or block < 1:
            raise ValueError(f"PackedLower: n and block must be positive integers; got n={n}, block={block}.")
        self.n = int(n)
        self.block = int(block)
        self.bounds = _starts(self.n, self.block)
        self.rows = [np.empty((e - s, e)) for s, e in zip(self.bounds[:-1], self.bounds[1:])]
        self.factored = False

    @property
    def nbytes(self) -> int:
        """Bytes held by the block rows."""
        return sum(r.nbytes for r in self.rows)

    def span(self, i: int) -> tuple[int, int]:
        """``(s_i, e_i)``: the rows of block row i."""
        return int(self.bounds[i]), int(self.bounds[i + 1])

    def diagonal(self) -> np.ndarray:
        """The diagonal, shape (n,): A's, or L's once factorised."""
        return np.concatenate([np.diagonal(r[:, s:]) for r, s in zip(self.rows, self.bounds[:-1])])

    def to_dense(self) -> np.ndarray:
        """The full symmetric matrix (before factorising) or L (after), shape (n, n); for tests and small n."""
        out = np.zeros((self.n, self.n))
        for i, rows in enumerate(self.rows):
            s, e = self.span(i)
            out[s:e, :e] = rows
            out[s:e, s:e] = np.tril(rows[:, s:e])
        if not self.factored:
            out = np.tril(out) + np.tril(out, -1).T
        return out

    # ------------------------------------------------------------------ factorisation

    def cholesky(self, shift: float = 0.0, progress: Callable[[float], None] | None = None) -> int:
        """Factorise ``A - shift I = L L^T`` in place; LAPACK's ``info`` (0 on success).

        Parameters
        ----------
        shift : float
            Subtracted from the diagonal first.
        progress : callable, optional
            ``progress(fraction)`` after each block row, with the fraction of
            the ``n^3 / 3`` flops done.

        Returns
        -------
        info : int
            0 on success; ``k > 0`` if the leading minor of order k is not
            positive definite (A is then partly overwritten: rebuild it).
        """
        if self.factored:
            raise RuntimeError("PackedLower.cholesky: already factorised; fill the rows again first.")
        dgemm, dtrsm, _ = _routines()
        one, minus_one = _d(1.0), _d(-1.0)
        total = float(self.n) ** 3
        for i, Ri in enumerate(self.rows):
            s_i, e_i = self.span(i)
            b_i = e_i - s_i
            base_i, ld_i = Ri.ctypes.data, _i(e_i)
            if shift:
                Ri[:, s_i:][np.diag_indices(b_i)] -= shift
            for j in range(i):
                s_j, e_j = self.span(j)
                Rj = self.rows[j]
                base_j, ld_j = Rj.ctypes.data, _i(e_j)
                b_j = e_j - s_j
                if s_j:
                    dgemm(b"T", b"N", _i(b_j), _i(b_i), _i(s_j), minus_one, _ptr(base_j), ld_j, _ptr(base_i), ld_i,
                          one, _ptr(base_i + 8 * s_j), ld_i)  # fmt: skip
                dtrsm(b"L", b"U", b"T", b"N", _i(b_j), _i(b_i), one, _ptr(base_j + 8 * s_j), ld_j,
                      _ptr(base_i + 8 * s_j), ld_i)  # fmt: skip
            if s_i:
                dgemm(b"T", b"N", _i(b_i), _i(b_i), _i(s_i), minus_one, _ptr(base_i), ld_i, _ptr(base_i), ld_i, one,
                      _ptr(base_i + 8 * s_i), ld_i)  # fmt: skip
            square = np.array(Ri[:, s_i:], order="F")
            info = cholesky_lower_inplace(square)
            if info:
                return s_i + info
            Ri[:, s_i:] = np.tril(square)
            if progress is not None:
                progress(min(1.0, (float(e_i) ** 3) / total))
        self.factored = True
        return 0

    # ------------------------------------------------------------------ solves and products

    def _trsm(self, i: int, B: np.ndarray, transposed: bool) -> None:
        """``B <- L_ii^{-1} B`` (or ``L_ii^{-T} B``) in place, B C-contiguous of shape (b_i, k)."""
        _, dtrsm, _ = _routines()
        s_i, e_i = self.span(i)
        Ri = self.rows[i]
        b_i, k = B.shape
        # C-order B (b_i x k) is the Fortran matrix B^T (k x b_i); L_ii in Fortran is U = L_ii^T
        # with leading dimension e_i. B^T <- B^T L_ii^{-T} = B^T U^{-1}  (or B^T L_ii^{-1} = B^T U^{-T}).
        dtrsm(b"R", b"U", b"T" if transposed else b"N", b"N", _i(k), _i(b_i), _d(1.0),
              _ptr(Ri.ctypes.data + 8 * s_i), _i(e_i), _ptr(B.ctypes.data), _i(max(k, 1)))  # fmt: skip

    def solve(self, B: np.ndarray) -> np.ndarray:
        """``(L L^T)^{-1} B`` for B of shape (n,) or (n, k): forward then backward substitution.

        Returns a new array of B's shape.
        """
        if not self.factored:
            raise RuntimeError("PackedLower.solve: call cholesky() first (and check that it succeeded).")
        vector = B.ndim == 1
        Y = np.array(B.reshape(self.n, -1), dtype=np.float64, order="C")
        for i, Ri in enumerate(self.rows):  # L y = b
            s_i, e_i = self.span(i)
            part = Y[s_i:e_i]
            if s_i:
                part -= Ri[:, :s_i] @ Y[:s_i]
            self._trsm(i, part, transposed=False)
        for i in range(len(self.rows) - 1, -1, -1):  # L^T x = y
            s_i, e_i = self.span(i)
            part = Y[s_i:e_i]
            self._trsm(i, part, transposed=True)
            if s_i:
                Y[:s_i] -= self.rows[i][:, :s_i].T @ part
        return Y[:, 0] if vector else Y

    def matmul(self, V: np.ndarray) -> np.ndarray:
        """``A V`` from the stored lower triangle (before factorising), V of shape (n,) or (n, k)."""
        if self.factored:
            raise RuntimeError("PackedLower.matmul: the rows hold the factor L now, not A.")
        vector = V.ndim == 1
        V2 = np.ascontiguousarray(V.reshape(self.n, -1), dtype=np.float64)
        out = np.zeros_like(V2)
        for i, Ri in enumerate(self.rows):
            s_i, e_i = self.span(i)
            square = np.tril(Ri[:, s_i:])
            square += np.tril(square, -1).T
            out[s_i:e_i] += square @ V2[s_i:e_i]
            if s_i:
                out[s_i:e_i] += Ri[:, :s_i] @ V2[:s_i]
                out[:s_i] += Ri[:, :s_i].T @ V2[s_i:e_i]
        return out[:, 0] if vector else out

