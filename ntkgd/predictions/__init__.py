"""Stage 4b, predictions: what the infinite-width network predicts on new points.

Built on the analytic cross-Grams (:mod:`ntkgd.analytic`) and on GD on the
linear model of a fixed kernel (:mod:`ntkgd.linalg`); used by the studies
(:mod:`ntkgd.experiments`) and the CLI.

Modules
-------
_predict
    :func:`predict`: the infinite-width (or, with the network's initial
    outputs, the linearised) GD prediction on test points, at given steps,
    gradient-flow times or at convergence.
"""

from ._predict import KERNELS, predict

__all__ = ["KERNELS", "predict"]
