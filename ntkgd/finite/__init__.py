"""Stage 3b, finite width: the paper's networks in JAX, their Grams, and gradient descent on them.

Modules
-------
_dense_networks, _conv_networks
    Two-layer, FC and ResNet networks, and the convolutional ResNet, built
    exactly as the paper defines them; per-layer Grams by structure.
_empirical
    :func:`empirical_gram`: the Grams of one network at initialisation.
_training
    :func:`train`: full-batch GD, tracked against the theory.
_blas
    The dense products of a GD step through BLAS ``dgemm`` (an XLA custom call on the CPU).
_training_memory
    The memory a training run needs, and the check that refuses one that will not fit.
_gram_split
    The split of the paper's Gram change over two random halves of its neurons:
    the coherent part common to all neurons and the neuron-level noise.
_trajectory
    :class:`Trajectory`: what a GD run recorded, and the theory's bound.
_predictions
    The linear-model predictions a run is compared with: on the training
    points, and on test points from the analytic cross-Gram.

JAX is imported only inside the functions that need it.
"""

from ._empirical import empirical_gram
from ._training import DIVERGENCE_FACTOR, check_training_fits, default_lr, train, training_memory
from ._trajectory import GramSeries, Trajectory, mean_square_error

__all__ = [
    "DIVERGENCE_FACTOR",
    "GramSeries",
    "Trajectory",
    "check_training_fits",
    "default_lr",
    "empirical_gram",
    "mean_square_error",
    "train",
    "training_memory",
]
