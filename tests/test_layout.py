"""The rules the source tree keeps (docs/design.md, "Layout"), checked on the import graph.

The graph is read with ``ast`` from every ``import`` and ``from ... import``
statement, at module level or inside a function, so a lazy import counts like
any other. The rules:

1. no import cycle between modules;
2. no underscore name imported from another subpackage (a subpackage offers
   what others may use in its ``__init__.py``, or under a public name);
3. no command module of the CLI imports another command (shared options and
   output helpers live in ``ntkgd/cli/_options.py``);
4. ``kernels/`` imports nothing from the rest of ntkgd;
5. no module over MAX_LINES lines.

Each checker is also run on small synthetic trees that break its rule, so these
tests cannot pass vacuously.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600
#: Modules of ntkgd/cli that are not commands: the dispatcher, its entry point and the shared helpers.
CLI_SHARED = {"ntkgd.cli", "ntkgd.cli.__main__", "ntkgd.cli._options"}


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for ``root/ntkgd`` and ``root/kernels`` (installed as ntkgd.kernels)."""
    found = {}
    for top, prefix in (("ntkgd", ("ntkgd",)), ("kernels", ("ntkgd", "kernels"))):
        base = root / top
        for path in sorted(base.rglob("*.py")):
            parts = (*prefix, *path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def imports(root: Path) -> list[tuple[str, str, str, int]]:
    """Every import of ntkgd code: ``(importer, imported module, imported name or "", line)``."""
    modules = module_files(root)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, is_package, node.level, node.module)
                if target.split(".")[0] != "ntkgd":
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in modules:  # `from . import _x`: the module itself
                        found.append((module, submodule, "", node.lineno))
                    else:
                        found.append((module, target, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "ntkgd":
                        found.append((module, alias.name, "", node.lineno))
    return found


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else "<root>"


def import_cycles(root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted.

    A module importing its own package's ``__init__`` (its face) is no edge: the
    package is already being imported when its children run.
    """
    modules = module_files(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for importer, target, _, _ in imports(root):
        if target in modules and target != importer and not importer.startswith(target + "."):
            edges[importer].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return components


def private_imports_across_subpackages(root: Path) -> list[str]:
    found = []
    for importer, target, name, line in imports(root):
        if name.startswith("_") and not name.startswith("__") and _subpackage(target) != _subpackage(importer):
            found.append(f"{importer}:{line} imports {name} from {target}")
    return found


def commands_importing_commands(root: Path) -> list[str]:
    found = []
    for importer, target, _, line in imports(root):
        both_commands = all(m.startswith("ntkgd.cli.") and m not in CLI_SHARED for m in (importer, target))
        if both_commands and importer != target:
            found.append(f"{importer}:{line} imports the command module {target}")
    return found


def kernels_importing_ntkgd(root: Path) -> list[str]:
    return [
        f"{importer}:{line} imports {target}"
        for importer, target, _, line in imports(root)
        if importer.startswith("ntkgd.kernels") and not target.startswith("ntkgd.kernels")
    ]


def long_modules(root: Path, limit: int = MAX_LINES) -> list[str]:
    return [
        f"{path.relative_to(root)}: {count} lines"
        for path in module_files(root).values()
        if (count := len(path.read_text().splitlines())) > limit
    ]


# --------------------------------------------------------------------------- the tree


def test_no_import_cycles():
    assert import_cycles(ROOT) == []


def test_no_underscore_names_imported_across_subpackages():
    assert private_imports_across_subpackages(ROOT) == []


def test_no_command_imports_another_command():
    assert commands_importing_commands(ROOT) == []


def test_kernels_import_nothing_from_the_rest_of_ntkgd():
    assert kernels_importing_ntkgd(ROOT) == []


def test_no_module_is_too_long():
    assert long_modules(ROOT) == []


def test_the_stages_are_subpackages():
    packages = {p.parent.name for p in (ROOT / "ntkgd").glob("*/__init__.py")}
    assert {"core", "specs", "data", "analytic", "finite", "linalg", "experiments", "cli"} <= packages
    flat = sorted(p.name for p in (ROOT / "ntkgd").glob("*.py") if p.name != "__init__.py")
    assert flat == [], f"modules outside every stage: {flat}"


# --------------------------------------------------------------------------- the checkers catch violations


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"ntkgd/__init__.py": "", "kernels/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    root = _tree(tmp_path, {
        "ntkgd/a/__init__.py": "",
        "ntkgd/a/_x.py": "from ._y import f\n",
        "ntkgd/a/_y.py": "def f():\n    from ..b._z import g\n",
        "ntkgd/b/__init__.py": "",
        "ntkgd/b/_z.py": "import ntkgd.a._x\n",
    })  # fmt: skip
    assert import_cycles(root) == [["ntkgd.a._x", "ntkgd.a._y", "ntkgd.b._z"]]


def test_a_child_importing_its_own_face_is_no_cycle(tmp_path):
    root = _tree(tmp_path, {"ntkgd/a/__init__.py": "from ._x import f\n", "ntkgd/a/_x.py": "from . import g\n"})
    assert import_cycles(root) == []


def test_underscore_names_across_subpackages_are_found_and_within_one_allowed(tmp_path):
    root = _tree(tmp_path, {
        "ntkgd/a/__init__.py": "",
        "ntkgd/a/_x.py": "from ._y import _inner\n",
        "ntkgd/a/_y.py": "_inner = 1\n",
        "ntkgd/b/__init__.py": "",
        "ntkgd/b/_z.py": "def f():\n    from ..a._y import _inner, public\n",
    })  # fmt: skip
    assert private_imports_across_subpackages(root) == ["ntkgd.b._z:2 imports _inner from ntkgd.a._y"]


def test_a_command_importing_a_command_is_found(tmp_path):
    root = _tree(tmp_path, {
        "ntkgd/cli/__init__.py": "from . import _gram\n",
        "ntkgd/cli/_options.py": "",
        "ntkgd/cli/_gram.py": "from ._options import x\n",
        "ntkgd/cli/_train.py": "from ._gram import slug\n",
    })  # fmt: skip
    assert commands_importing_commands(root) == ["ntkgd.cli._train:1 imports the command module ntkgd.cli._gram"]


def test_kernels_importing_ntkgd_and_long_modules_are_found(tmp_path):
    root = _tree(tmp_path, {"kernels/_k.py": "from ntkgd.specs import x\n", "ntkgd/_big.py": "x = 1\n" * 601})
    assert kernels_importing_ntkgd(root) == ["ntkgd.kernels._k:1 imports ntkgd.specs"]
    assert long_modules(root) == ["ntkgd/_big.py: 601 lines"]


@pytest.mark.parametrize("checker", [import_cycles, private_imports_across_subpackages, long_modules])
def test_checkers_pass_a_clean_tree(tmp_path, checker):
    root = _tree(tmp_path, {"ntkgd/a/__init__.py": "from ._x import f\n", "ntkgd/a/_x.py": "def f():\n    pass\n"})
    assert checker(root) == []
