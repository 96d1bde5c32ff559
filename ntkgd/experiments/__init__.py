"""Stage 5, experiments: studies built from the stages before, their figures, and the benchmark harness.

Modules
-------
_lambda0, _lambda0_dask
    The lambda_0 study of ``ntkgd lambda0``: Grams and spectra of a data set
    over depths and kernels, label quantities and label noise; and its
    distributed variant (tiled or matrix-free Grams on a Dask cluster).
_lambda0_scaling
    lambda_0 against n from many ``lambda0`` result files: the fitted
    exponent with a bootstrap interval over data draws, n^4 / lambda_0^4.
_crosscheck
    Finite-width Grams against the analytic limits across widths and seeds.
_sweep
    GD runs across widths: how the Gram and the weights move with width.
_fits
    Log-log slopes against width.
_depth, _depth_cells, _depth_fits, _bisection, _depth_plots
    What depth costs FC and ResNet (``ntkgd depth``): Gram error and movement
    against depth, the smallest sufficient width m*(H) by bisection over a
    geometric grid, exponential and polynomial fits against depth, the figure.
_two_term
    The two-term model ``A m^-1/2 + B m^-3/4`` of a Gram change and its crossover width.
_generalisation
    The Arora et al. (2019) bound beside the test errors of the kernel
    predictor and of trained networks, true and random labels (``ntkgd predict``).
_bench, _numpy_baseline
    The benchmark engine behind ``ntkgd bench`` and its plain NumPy baseline.
_theory, _theory_table, _theory_depth, _theory_plots
    The theorems' numbers on a data set (widths, step sizes, radii, with
    their constants' provenance) beside a measured width (``ntkgd theory``),
    against depth beside the depth study's m*(H), and that figure.
_lambda0_plots, _dynamics_plots
    Figures (matplotlib is imported only when one is drawn).
"""

from ._bench import ARCHS, BACKENDS, machine, make_configs, run_benchmarks
from ._crosscheck import Crosscheck, crosscheck, plot_crosscheck
from ._bisection import bisect_smallest, geometric_grid
from ._depth import DepthStudy, depth_study, lambda0_against_depth
from ._depth_fits import fit_exponential_rate, fit_power
from ._depth_plots import plot_depth
from ._dynamics_plots import plot_runs, plot_sweep
from . import _figure_style as figure_style
from ._fits import Slope, fit_slope
from ._generalisation import Generalisation, generalisation_study, plot_generalisation, zero_one_error
from ._lambda0 import Lambda0Study, check_labels, lambda0_study
from ._lambda0_dask import DistributedLambda0, lambda0_distributed
from ._lambda0_scaling import plot_lambda0_scaling, read_scaling_runs, scaling_summary
from ._lambda0_plots import plot_lambda0
from ._sweep import QUANTITIES, Sweep, combine_sweeps, summarise, sweep
from ._theory import TheoremQuantities, load_measured_width, theorem_quantities
from ._theory_depth import TheoryAgainstDepth, theorem_widths_against_depth
from ._theory_plots import plot_theory_depth
from ._theory_table import TheoremRow
from ._two_term import TwoTerm, fit_parts, fit_two_term

__all__ = [
    "ARCHS",
    "BACKENDS",
    "QUANTITIES",
    "Crosscheck",
    "Generalisation",
    "DistributedLambda0",
    "Lambda0Study",
    "DepthStudy",
    "Slope",
    "Sweep",
    "TheoremQuantities",
    "TheoremRow",
    "TheoryAgainstDepth",
    "TwoTerm",
    "bisect_smallest",
    "check_labels",
    "combine_sweeps",
    "crosscheck",
    "depth_study",
    "figure_style",
    "fit_exponential_rate",
    "fit_power",
    "fit_parts",
    "fit_slope",
    "fit_two_term",
    "generalisation_study",
    "geometric_grid",
    "lambda0_against_depth",
    "lambda0_distributed",
    "lambda0_study",
    "load_measured_width",
    "machine",
    "make_configs",
    "plot_crosscheck",
    "plot_depth",
    "plot_generalisation",
    "plot_lambda0",
    "plot_lambda0_scaling",
    "plot_runs",
    "plot_sweep",
    "plot_theory_depth",
    "read_scaling_runs",
    "run_benchmarks",
    "summarise",
    "scaling_summary",
    "sweep",
    "theorem_quantities",
    "theorem_widths_against_depth",
    "zero_one_error",
]
