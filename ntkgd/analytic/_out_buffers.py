"""Caller-supplied output buffers of :func:`ntkgd.analytic_gram` (``out=``): checked before anything is computed.

Why: a fresh n x n array is paid for at its first touch, page by page, and on
a virtual machine whose freed memory goes back to the host (free page
reporting) that first touch costs as much as the kernel itself: 0.07 to 1.4 s
for 512 MB on the 2-core Firecracker VM, against 0.02 s to overwrite the same
memory (docs/benchmarks.md). A caller that computes many Grams of one size (a
sweep over depths, data draws or seeds) can pass the previous result's arrays
back and pay that cost once.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["BUFFER_OUTPUTS", "check_out_buffers"]

#: The outputs that ``out=`` may supply, each an (n, n2) matrix.
BUFFER_OUTPUTS = ("paper", "ntk", "nngp")


def check_out_buffers(out: Mapping, wanted: frozenset, shape: tuple[int, int], single_group: bool,
                      inputs: tuple) -> dict:  # fmt: skip
    """The checked ``out=`` mapping of :func:`ntkgd.analytic_gram`, or a ValueError/TypeError naming the problem.

    Parameters
    ----------
    out : mapping of str to ndarray
        Output name -> buffer.
    wanted : frozenset of str
        The requested outputs; every key of ``out`` must be one of them.
    shape : (int, int)
        ``(n, n2)``, the shape of each output.
    single_group : bool
        Whether only one weight group is trained (TwoLayer): the NTK is then
        the paper's Gram, one matrix, and ``out`` may give a buffer for one of
        the two names only.
    inputs : tuple of ndarray
        ``X`` (and ``X2``): a buffer must not share memory with them.

    Returns
    -------
    dict
        The same buffers, keyed by output name.
    """
    if not isinstance(out, Mapping):
        raise TypeError(f"analytic_gram: out must be a mapping such as {{'ntk': array}}, got {type(out).__name__}.")
    if "layers" in wanted:
        raise ValueError("analytic_gram: out= cannot be combined with outputs containing 'layers' (paper is then a "
                         "view of the per-layer stack); ask for paper, ntk and/or nngp.")  # fmt: skip
    checked = {}
    for name, buffer in out.items():
        if name not in BUFFER_OUTPUTS:
            raise ValueError(f"analytic_gram: out[{name!r}]: unknown output; out= may supply {', '.join(BUFFER_OUTPUTS)}.")
        if name not in wanted:
            raise ValueError(f"analytic_gram: out[{name!r}] is given but {name!r} is not in outputs "
                             f"{tuple(sorted(wanted))}; add it to outputs or drop the buffer.")  # fmt: skip
        where = f"analytic_gram: out[{name!r}]"
        if not isinstance(buffer, np.ndarray):
            raise TypeError(f"{where} must be a NumPy array, got {type(buffer).__name__}.")
        if buffer.dtype != np.float64 or buffer.shape != shape:
            raise ValueError(f"{where} must be a float64 array of shape {shape}, got {buffer.dtype} {buffer.shape}; "
                             f"allocate it with np.empty({shape}).")  # fmt: skip
        if not buffer.flags.c_contiguous or not buffer.flags.writeable:
            raise ValueError(f"{where} must be C-contiguous and writeable (np.empty({shape}) is); got "
                             f"c_contiguous={buffer.flags.c_contiguous}, writeable={buffer.flags.writeable}.")  # fmt: skip
        for other, array in checked.items():
            if np.shares_memory(buffer, array):
                raise ValueError(f"{where} shares memory with out[{other!r}]; every output needs its own buffer.")
        if any(np.shares_memory(buffer, x) for x in inputs):
            raise ValueError(f"{where} shares memory with the inputs; the inputs are read while it is written.")
        checked[name] = buffer
    if single_group and {"paper", "ntk"} <= checked.keys():
        raise ValueError("analytic_gram: out gives buffers for both 'paper' and 'ntk', but with one trained weight "
                         "group (TwoLayer) they are one matrix; give one of them.")  # fmt: skip
    return checked
