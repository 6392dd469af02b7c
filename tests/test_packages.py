"""Every package shows what it offers: a sorted, complete ``__all__``, and modules of a size one
can read.

* Outside a package, names are imported from the package (``from dsar.notify import
  sign_payload``), never from one of its modules; inside, modules import each other directly.
  Importing a module object (``from dsar.intake import page``) is allowed: that is how tests
  reach a module's internals to replace them.
* A package's ``__all__`` is sorted (ruff's order: constants, classes, functions) and lists
  exactly the names other packages import from it, each of which resolves.
* ``flows`` and ``deployments`` are imported module by module and have no such list:
  ``flows.runtime`` must set Prefect's environment before Prefect is first imported, which an
  ``__init__`` importing the flows would defeat.
* No module of the engine is longer than 400 lines (tests aside).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("dsar", "engine", "flows", "connectors", "deployments", "sandbox", "bench", "tests")
#: Packages whose outside callers import from the package itself.
PACKAGES = (
    "dsar.cli",
    "dsar.export",
    "dsar.intake",
    "dsar.monitor",
    "dsar.notify",
    "dsar.register",
    "dsar.staff",
    "dsar.store",
    "engine",
)
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def outside_imports(package: str) -> Iterator[tuple[str, int, str, str]]:
    """``(importer, line, imported-from, name)`` for each name imported from ``package`` or
    one of its modules by a module outside it (module objects excluded)."""
    for source in SOURCES:
        for path in (ROOT / source).rglob("*.py"):
            importer = module_name(path)
            if within(importer, package):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if not within(node.module, package):
                    continue
                for alias in node.names:
                    if not is_module(f"{node.module}.{alias.name}"):
                        yield importer, node.lineno, node.module, alias.name


def ruff_order(name: str) -> tuple[int, str]:
    """RUF022's order: SCREAMING_CASE, then CamelCase, then everything else."""
    if name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


@pytest.mark.parametrize("package", PACKAGES)
def test_outside_a_package_names_come_from_the_package_itself(package: str) -> None:
    deep = [
        f"{importer}:{line} imports {name} from {module}"
        for importer, line, module, name in outside_imports(package)
        if module != package
    ]
    assert deep == []


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_exactly_what_other_packages_use_in_order(package: str) -> None:
    exported = importlib.import_module(package).__all__
    used = {name for _, _, _, name in outside_imports(package) if not name.startswith("_")}
    assert exported == sorted(exported, key=ruff_order)
    assert len(exported) == len(set(exported))
    assert set(exported) == used


@pytest.mark.parametrize("package", [*PACKAGES, "connectors", "sandbox"])
def test_every_listed_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert all(hasattr(module, name) for name in module.__all__)


def test_no_module_is_longer_than_it_takes_to_read() -> None:
    long = sorted(
        f"{path.relative_to(ROOT)}: {count} lines"
        for source in SOURCES
        if source != "tests"
        for path in (ROOT / source).rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert long == []


def test_the_order_check_knows_ruffs_order() -> None:
    names = ["settle", "MANUAL", "Gate", "ACTOR", "close_connectors"]
    assert sorted(names, key=ruff_order) == [
        "ACTOR",
        "MANUAL",
        "Gate",
        "close_connectors",
        "settle",
    ]
