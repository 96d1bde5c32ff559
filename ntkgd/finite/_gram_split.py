"""The split-half decomposition of the paper's Gram change into a part common to all neurons and neuron-level noise.

The paper's Gram ``G^(H)`` (TwoLayer: ``H``) is a sum over the neurons
``r = 1..m`` of the layer whose weights it belongs to (the rows of ``W^(H)``;
output channels for ConvResNet): by docs/math.md (1.1)

    G^(H)_ij = sum_r delta_ir delta_jr (in_i . in_j)                          (dense)
    G^(H)_ij = sum_r sum_{l,l'} delta_i[r,l] delta_j[r,l'] P(in_i . in_j)[l,l']  (conv, §9b)

The neurons are split once per run into two fixed random halves ``A`` and ``B``
(:func:`split_indices`), and each half's Gram is its half-sum normalised as a
full Gram would be, ``G_A = (m / |A|) sum_{r in A} (...)``, so that
``G = (G_A + G_B) / 2`` exactly for even ``m`` (``(|A| G_A + |B| G_B) / m`` in
general). With ``D_A(k) = G_A(k) - G_A(0)`` and ``D_B`` likewise
(docs/math.md §6b):

    inner(k)      = <D_A, D_B>_F                  (signed; its mean is ||C||_F^2)
    coherent(k)   = sqrt(max(inner(k), 0))       estimates ||C||_F, the change common to all neurons
    incoherent(k) = ||D_A - D_B||_F / 2          estimates the neuron-level noise of D = (D_A + D_B) / 2

and ``||D||_F^2 = inner + incoherent^2`` exactly for even ``m``.

The halves are drawn from ``numpy.random.default_rng([seed, SPLIT_STREAM])``,
a generator of its own (the weights come from ``jax.random.key(seed)``), so
the split is independent of the weights and reproducible from the run's seed:
``A`` is the first ``m // 2`` entries of that generator's ``permutation(m)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPLIT_STREAM", "half_grams", "split_change", "split_indices"]

#: The second entry of the seed of the split's generator, ``default_rng([seed, SPLIT_STREAM])`` ("HALF" in ASCII).
SPLIT_STREAM = 0x48414C46


def split_indices(width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The neurons of the halves ``(A, B)``, sorted: ``default_rng([seed, SPLIT_STREAM]).permutation(width)``
    cut at ``width // 2`` (``|A| = width // 2``). A width below 2 has no split: ``A`` is empty.

    Examples
    --------
    >>> A, B = split_indices(5, seed=0)
    >>> len(A), len(B), sorted(A.tolist() + B.tolist())
    (2, 3, [0, 1, 2, 3, 4])
    """
    order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(width)
    return np.sort(order[: width // 2]), np.sort(order[width // 2:])


def half_grams(plan, conv: bool, inputs, deltas, halves):
    """``(G_A, G_B)`` of the paper's layer ``H`` from one forward/backward pass, a jnp array of shape (2, n, n).

    Parameters
    ----------
    plan : DensePlan or ConvPlan
    conv : bool
        ConvResNet (pixel axes on ``inputs`` and ``deltas``).
    inputs, deltas : lists of H jnp arrays
        As returned by the backprop of :mod:`._dense_networks` / :mod:`._conv_networks`:
        ``in^(h)`` and ``delta^(h)`` of shape (n, m) (conv: (n, m, *spatial)).
    halves : pair of int jnp arrays
        :func:`split_indices` ``(A, B)``, both non-empty.

    Notes
    -----
    Each half is the full Gram formula applied to that half's columns of
    ``delta`` (its neurons), times ``m / |half|``: no extra network pass, and
    the two halves together cost one more Gram product of the layer.
    """
    import jax.numpy as jnp

    inp, delta = inputs[plan.depth - 1], deltas[plan.depth - 1]
    m = delta.shape[1]
    out = []
    for rows in halves:
        part = jnp.take(delta, rows, axis=1)
        scaled = part * np.sqrt(m / rows.shape[0])
        if conv:
            from ._conv_networks import _layer_gram

            out.append(_layer_gram(plan, scaled, inp))
        else:
            out.append((scaled @ scaled.T) * (inp @ inp.T))
    return jnp.stack(out)


def split_change(halves: np.ndarray) -> dict[str, np.ndarray]:
    """The split-half series of a run from its half Grams at the tracked steps (step 0 first).

    Parameters
    ----------
    halves : ndarray, shape (K, 2, n, n)
        ``(G_A(k), G_B(k))`` at each tracked step.

    Returns
    -------
    dict of ndarray, each shape (K,)
        ``"inner"`` ``<D_A, D_B>_F``; ``"coherent"`` ``sqrt(max(inner, 0))``;
        ``"incoherent"`` ``||D_A - D_B||_F / 2`` (docs/math.md §6b).

    Examples
    --------
    >>> C = np.ones((2, 2))
    >>> halves = np.stack([np.zeros((2, 2, 2)), np.stack([C + 0.1 * np.eye(2), C - 0.1 * np.eye(2)])])
    >>> {k: np.round(v, 12).tolist() for k, v in split_change(halves).items()}
    {'inner': [0.0, 3.98], 'coherent': [0.0, 1.994993734326], 'incoherent': [0.0, 0.141421356237]}
    """
    halves = np.asarray(halves, dtype=np.float64)
    D = halves - halves[:1]
    D_A, D_B = D[:, 0], D[:, 1]
    inner = np.einsum("kij,kij->k", D_A, D_B)
    incoherent = np.sqrt(np.einsum("kij,kij->k", D_A - D_B, D_A - D_B)) / 2.0
    return {"inner": inner, "coherent": np.sqrt(np.maximum(inner, 0.0)), "incoherent": incoherent}
