"""The public names of ntkgd are pinned: adding or removing one is a decision."""

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
