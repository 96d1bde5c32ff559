"""The dense products of :func:`ntkgd.train` through the machine's BLAS (``dgemm``), as an XLA custom call.

XLA's CPU backend computes float64 dot products with Eigen, which on the
Intel Xeon (AVX-512) of this project reaches about a third of OpenBLAS's
``dgemm`` rate for the shapes of a GD step (docs/benchmarks.md, "GD at the
floor of float64 GEMM"). One GD step of a dense network is a handful of such
products, so ``train`` routes them to ``dgemm`` (SciPy's BLAS,
``scipy.linalg.cython_blas``): a Numba C callback registered with XLA as the
CPU custom call ``ntkgd_dgemm``, which reads and writes XLA's buffers in place
(no copy, no Python, no GIL). It computes, for row-major operands,

    C = beta C0 + alpha op(A) op(B),        op(A) = A or A^T,

with ``beta = 0`` (a product) or ``beta = 1`` and ``C0`` aliased to the output
(the GD update ``W - lr grad`` in one pass over ``W``). Only the summation
order differs from XLA's dot: results agree to rounding.

The custom call exists for the CPU backend only; :func:`available` says
whether the default backend is the CPU. JAX, Numba and SciPy are imported
lazily, at the first use.
"""

from __future__ import annotations

import ctypes
import functools

__all__ = ["available", "gemm"]

_TARGET = "ntkgd_dgemm"
#: Products of fewer multiply-adds (M N K) are left to XLA's dot: waking OpenBLAS's threads for them costs more
#: than Eigen's slower kernel (FC, n = 32, m = 256: 15-30 ms per step through dgemm, 2-4 ms through XLA).
MIN_MULTIPLY_ADDS = 1 << 24
#: The custom call's first operand, float64: (M, N, K, transpose A, transpose B, beta) (exact in float64).
_HEADER = 6


@functools.cache
def _register() -> None:
    """Compile the C callback and register it with XLA (once per process)."""
    import jax
    import numba
    import numba.extending
    import numpy as np
    from numba import carray, types
    from scipy.linalg import cython_blas

    capsule = cython_blas.__pyx_capi__["dgemm"]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, (ctypes.py_object,)
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, (ctypes.py_object, ctypes.c_char_p)
    char, int32, double = (ctypes.POINTER(t) for t in (ctypes.c_uint8, ctypes.c_int32, ctypes.c_double))
    dgemm = ctypes.CFUNCTYPE(None, char, char, int32, int32, int32, double, double, int32, double, int32, double,
                             double, int32)(get_pointer(capsule, get_name(capsule)))  # Fortran: every argument by address

    @numba.extending.intrinsic
    def address(typingctx, array):
        """The data pointer of a Numba array, typed (``array.ctypes`` is not accepted for a typed pointer)."""

        def codegen(context, builder, signature, args):
            return context.make_array(array)(context, builder, args[0]).data

        return types.CPointer(array.dtype)(array), codegen

    signature = types.void(types.CPointer(types.float64), types.CPointer(types.CPointer(types.float64)))

    @numba.cfunc(signature, nopython=True)
    def callback(out, ins):  # pragma: no cover -- runs inside XLA, not under Python tracing
        # Row-major C (M, N) = op(A) op(B) is column-major C^T (N, M) = op(B)^T op(A)^T: swap the operands.
        header = carray(ins[0], _HEADER)
        M, N, K = np.int32(header[0]), np.int32(header[1]), np.int32(header[2])
        ta, tb = header[3] != 0.0, header[4] != 0.0
        ints = np.empty(6, np.int32)
        ints[0], ints[1], ints[2] = N, M, K
        ints[3] = K if tb else N  # leading dimension of B's buffer: (N, K) if transposed, else (K, N)
        ints[4] = M if ta else K  # A's: (K, M) if transposed, else (M, K)
        ints[5] = N
        flags = np.empty(2, np.uint8)
        flags[0] = 84 if tb else 78  # "T" or "N"
        flags[1] = 84 if ta else 78
        scalars = np.empty(2, np.float64)
        scalars[1] = header[5]
        scalars[0] = ins[4][0] if header[5] != 0.0 else 1.0  # alpha: given with C0, else 1
        dgemm(address(flags[0:]), address(flags[1:]), address(ints[0:]), address(ints[1:]), address(ints[2:]),
              address(scalars[0:]), ins[2], address(ints[3:]), ins[1], address(ints[4:]), address(scalars[1:]),
              out, address(ints[5:]))  # fmt: skip

    make = ctypes.pythonapi.PyCapsule_New
    make.restype, make.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    jax.ffi.register_ffi_target(_TARGET, make(callback.address, b"xla._CUSTOM_CALL_TARGET", None),
                                platform="cpu", api_version=0)  # fmt: skip
    _register.callback = callback  # keep the compiled function (and its address) alive


def available() -> bool:
    """Whether the products can go through BLAS: JAX's default backend is the CPU."""
    import jax

    return jax.default_backend() == "cpu"


def gemm(a, b, *, ta: bool = False, tb: bool = False, c=None, alpha=None, after=()):
    """``op(a) @ op(b)``, or ``c + alpha op(a) @ op(b)`` (in place of ``c``), by BLAS ``dgemm``, under jit.

    Products of fewer than ``MIN_MULTIPLY_ADDS`` multiply-adds are XLA's dot instead.

    Parameters
    ----------
    a : jnp array, shape (M, K), or (K, M) with ``ta``
    b : jnp array, shape (K, N), or (N, K) with ``tb``
    ta, tb : bool
        Use the transpose of ``a`` (of ``b``).
    c : jnp array, shape (M, N), optional
        The matrix to update; its buffer is reused for the result.
    alpha : jnp scalar, optional
        The multiplier of the product (with ``c`` only).
    after : tuple of jnp arrays
        Arrays the call waits for and does not read: with ``c``, the results of
        every other computation that reads ``c``, so that XLA may update ``c``
        in place instead of copying it first.

    Returns
    -------
    jnp array, shape (M, N), float64
    """
    import jax
    import jax.numpy as jnp

    M, K = (a.shape[1], a.shape[0]) if ta else a.shape
    N, K_b = (b.shape[0], b.shape[1]) if tb else (b.shape[1], b.shape[0])
    if K_b != K or (c is not None and c.shape != (M, N)) or (c is None) != (alpha is None):
        raise ValueError(f"gemm: shapes {a.shape}{'^T' if ta else ''} @ {b.shape}{'^T' if tb else ''} "
                         f"{'' if c is None else f'into {c.shape}'} do not match (or alpha without c).")  # fmt: skip
    if M * N * K < MIN_MULTIPLY_ADDS:
        product = (a.T if ta else a) @ (b.T if tb else b)
        return product if c is None else c + alpha * product
    _register()
    header = jnp.array([M, N, K, ta, tb, c is not None], dtype=jnp.float64)
    operands = ((header, a, b) if c is None else (header, a, b, c, jnp.reshape(alpha, (1,)))) + tuple(after)
    call = jax.ffi.ffi_call(_TARGET, jax.ShapeDtypeStruct((M, N), jnp.float64), custom_call_api_version=1,
                            input_output_aliases=None if c is None else {3: 0})  # fmt: skip
    return call(*(jnp.asarray(x, dtype=jnp.float64) for x in operands))
