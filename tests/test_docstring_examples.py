"""The examples in the docstrings run and print what they say: every module of ntkgd that has one."""

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ntkgd"

#: Modules whose examples run in their own test file, with the fixtures they need.
RUN_ELSEWHERE = {
    "ntkgd.analytic._tiled": "tests/test_tiled.py (a LocalCluster)",
    "ntkgd.experiments._crosscheck": "tests/test_crosscheck.py (in a temporary directory)",
}


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>> " in path.read_text():
            parts = ("ntkgd", *path.relative_to(PACKAGE).with_suffix("").parts)
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = [name for name in _modules_with_examples() if name not in RUN_ELSEWHERE]


def test_every_module_with_examples_is_run():
    assert set(RUN_ELSEWHERE) <= set(_modules_with_examples())
    assert {"ntkgd.analytic._api", "ntkgd.finite._empirical", "ntkgd.data._loaders", "ntkgd.data._labels"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
