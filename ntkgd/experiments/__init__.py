"""Stage 5, experiments: studies built from the stages before, their figures, and the benchmark harness.

Modules
-------
_lambda0, _lambda0_dask
    The lambda_0 study of ``ntkgd lambda0``: Grams and spectra of a data set
    over depths and kernels, label quantities and label noise; and its
    distributed variant (tiled or matrix-free Grams on a Dask cluster).
_crosscheck
    Finite-width Grams against the analytic limits across widths and seeds.
_sweep
    GD runs across widths: how the Gram and the weights move with width.
_fits
    Log-log slopes against width.
_generalisation
    The Arora et al. (2019) bound beside the test errors of the kernel
    predictor and of trained networks, true and random labels (``ntkgd predict``).
_bench, _numpy_baseline
    The benchmark engine behind ``ntkgd bench`` and its plain NumPy baseline.
_lambda0_plots, _dynamics_plots
    Figures (matplotlib is imported only when one is drawn).
"""

from ._bench import ARCHS, BACKENDS, machine, make_configs, run_benchmarks
from ._crosscheck import Crosscheck, crosscheck, plot_crosscheck
from ._dynamics_plots import plot_runs, plot_sweep
from . import _figure_style as figure_style
from ._fits import Slope, fit_slope
from ._generalisation import Generalisation, generalisation_study, plot_generalisation, zero_one_error
from ._lambda0 import Lambda0Study, check_labels, lambda0_study
from ._lambda0_dask import DistributedLambda0, lambda0_distributed
from ._lambda0_plots import plot_lambda0
from ._sweep import QUANTITIES, Sweep, combine_sweeps, summarise, sweep

__all__ = [
    "ARCHS",
    "BACKENDS",
    "QUANTITIES",
    "Crosscheck",
    "Generalisation",
    "DistributedLambda0",
    "Lambda0Study",
    "Slope",
    "Sweep",
    "check_labels",
    "combine_sweeps",
    "crosscheck",
    "figure_style",
    "fit_slope",
    "generalisation_study",
    "lambda0_distributed",
    "lambda0_study",
    "machine",
    "make_configs",
    "plot_crosscheck",
    "plot_generalisation",
    "plot_lambda0",
    "plot_runs",
    "plot_sweep",
    "run_benchmarks",
    "summarise",
    "sweep",
    "zero_one_error",
]
