"""The public names of ntkgd are pinned: adding or removing one is a decision."""

import os

import ntkgd

PUBLIC = {
    "ACTIVATION_NAMES",
    "Activation",
    "Backend",
    "ConvResNet",
    "Dataset",
    "DivergenceError",
    "FullyConnected",
    "Gram",
    "GramOperator",
    "GramTooLargeError",
    "IncompleteStoreError",
    "IterativeResult",
    "ResNet",
    "SingularGramError",
    "Spectrum",
    "TheoremQuantities",
    "Trajectory",
    "TwoLayer",
    "UnsupportedBackendError",
    "activation",
    "analytic_gram",
    "empirical_gram",
    "inverse_quadratic_form",
    "iterative_lambda_min",
    "label_projections",
    "lambda_min",
    "load_data",
    "open_gram_store",
    "parallel_rows",
    "predict",
    "spectrum",
    "theorem_quantities",
    "train",
}


def test_public_names():
    exported = {name for name in dir(ntkgd) if not name.startswith("_")}
    # subpackages appear once imported (docs/design.md, "Layout")
    modules = {"core", "specs", "data", "analytic", "finite", "linalg", "predictions", "experiments", "cli", "kernels"}
    assert exported - modules == PUBLIC


def test_version():
    from importlib.metadata import version

    assert ntkgd.__version__ == version("ntkgd")


def test_specs_are_frozen_and_hashable():
    import dataclasses

    import pytest

    arch = ntkgd.FullyConnected(3, "relu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.depth = 4
    same = ntkgd.FullyConnected(3, "ReLU")
    assert arch == same and hash(arch) == hash(same) and same.activation == "relu"


def test_openblas_workers_sleep_at_once_unless_the_user_chose():
    # docs/design.md, "Threads": set before any OpenBLAS that ntkgd's import loads, never overriding the user.
    import subprocess
    import sys

    code = "import os, ntkgd, numpy; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    chosen = subprocess.run([sys.executable, "-c", code], env={**env, "OPENBLAS_THREAD_TIMEOUT": "12"},
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert default.stdout.strip() == "4" and chosen.stdout.strip() == "12"
