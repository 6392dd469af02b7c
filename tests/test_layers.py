"""The layers of the house, read from the import statements of every module.

* The domain (``dsar/`` without its edges, the CLI and the intake service, which may start runs)
  imports no Prefect, no HTTP client and nothing of the engine, the flows, the connectors, the
  deployments or the sandbox.
* The step engine (``engine/``) imports no Prefect and no flows: it runs without an orchestrator.
* ``connectors/`` imports neither flows nor the engine.
* ``sandbox/`` stands alone: it imports nothing of ``dsar``, ``connectors``, ``flows`` or the
  engine (the CLI tells it what to emulate).
* No import circles between modules, counting every import: at the top level, inside a
  function (a late import only hides a circle until the function runs) and under
  ``TYPE_CHECKING``. A package's ``__init__`` re-exporting its modules' names is not a circle
  with those modules.

Every rule is checked by the same functions a self-test feeds with a violating example, so a
checker that stopped seeing violations would fail here too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dsar", "engine", "flows", "connectors", "deployments", "sandbox", "bench")
#: Parts of ``dsar`` that are edges onto the engine rather than domain.
DOMAIN_EDGES = ("dsar.cli", "dsar.intake", "dsar.staff")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    top_level: bool
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every module ``module`` imports: ``import a.b`` → ``a.b``; ``from a import b`` → ``a.b``
    when ``a.b`` is a module, else ``a`` (the caller resolves which with :func:`resolve`)."""
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        top_level = id(node) in top
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, top_level, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", top_level, node.lineno)


def resolve(name: str, known: set[str]) -> str:
    """The longest known module ``name`` refers to (``pkg.mod.func`` → ``pkg.mod``)."""
    while name and name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def repo_imports() -> tuple[set[str], list[Import]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p) for p in files}
    found: list[Import] = []
    for path in files:
        name = module_name(path)
        for imp in imports_of(name, path.read_text(), is_package=path.name == "__init__.py"):
            target = resolve(imp.imported, modules)
            found.append(Import(imp.importer, target, imp.top_level, imp.line))
    return modules, found


def within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


#: (who, must not import, why)
RULES: list[tuple[str, tuple[str, ...], tuple[str, ...], str]] = [
    (
        "domain",
        ("dsar",),
        ("prefect", "httpx", "flows", "engine", "connectors", "deployments", "sandbox"),
        "the domain stays free of orchestration and HTTP",
    ),
    ("engine", ("engine",), ("prefect", "flows"), "the engine runs without an orchestrator"),
    ("connectors", ("connectors",), ("flows", "engine"), "connectors know no flows"),
    (
        "sandbox",
        ("sandbox",),
        ("dsar", "connectors", "flows", "engine"),
        "the sandbox stands alone",
    ),
]


def violations(imports: Iterable[Import]) -> list[str]:
    out = []
    for imp in imports:
        for name, owners, forbidden, why in RULES:
            if not within(imp.importer, owners):
                continue
            if name == "domain" and within(imp.importer, DOMAIN_EDGES):
                continue
            if within(imp.imported, forbidden):
                out.append(f"{imp.importer}:{imp.line} imports {imp.imported} ({why})")
    return out


def circles(imports: Iterable[Import], modules: set[str]) -> list[list[str]]:
    """Import circles among ``modules`` (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.imported in modules and imp.imported != imp.importer:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _without_package_inits(imports: list[Import], modules: set[str]) -> list[Import]:
    """Drop edges into a package ``__init__`` from its own submodules' siblings' view.

    A package's ``__init__`` imports its submodules to re-export their names; a submodule that
    imports a sibling does not import the package, so such edges are not part of a circle.
    """
    packages = {m for m in modules if (ROOT / Path(*m.split(".")) / "__init__.py").exists()}
    return [
        imp
        for imp in imports
        if not (imp.imported in packages and within(imp.importer, (imp.imported,)))
    ]


def test_the_domain_engine_connectors_and_sandbox_import_only_downwards() -> None:
    _, imports = repo_imports()
    assert violations(imports) == []


def test_no_module_imports_itself_in_a_circle() -> None:
    modules, imports = repo_imports()
    assert circles(_without_package_inits(imports, modules), modules) == []


class TestTheCheckerSeesViolations:
    def test_the_domain_importing_prefect_or_the_flows_is_a_violation(self) -> None:
        found = violations(
            [
                Import("dsar.service", "prefect", True, 3),
                Import("dsar.plan", "flows.process", False, 9),
                Import("dsar.cli.run", "flows.embedded", False, 5),  # an edge: allowed
            ]
        )
        assert found == [
            "dsar.service:3 imports prefect (the domain stays free of orchestration and HTTP)",
            "dsar.plan:9 imports flows.process (the domain stays free of orchestration and HTTP)",
        ]

    def test_the_sandbox_importing_the_engine_and_connectors_importing_flows_are_violations(
        self,
    ) -> None:
        found = violations(
            [
                Import("sandbox.server", "dsar.settings", True, 1),
                Import("connectors.http", "flows.runtime", True, 2),
                Import("engine.steps", "prefect", True, 4),
            ]
        )
        assert len(found) == 3

    def test_a_circle_of_two_modules_is_found_and_named(self) -> None:
        modules = {"dsar.cli.root", "dsar.cli.db", "dsar.models"}
        imports = [
            Import("dsar.cli.root", "dsar.cli.db", True, 1),
            Import("dsar.cli.db", "dsar.cli.root", True, 1),
            Import("dsar.cli.root", "dsar.models", True, 2),
        ]
        assert circles(imports, modules) == [["dsar.cli.db", "dsar.cli.root"]]

    def test_a_late_import_inside_a_function_still_closes_a_circle(self) -> None:
        source_a = "import b\n"
        source_b = "def f():\n    import a\n"
        imports = [*imports_of("a", source_a), *imports_of("b", source_b)]
        assert circles(imports, {"a", "b"}) == [["a", "b"]]

    def test_a_package_init_re_exporting_its_modules_is_no_circle(self) -> None:
        imports = [Import("dsar", "dsar.models", True, 1), Import("dsar.models", "dsar", True, 1)]
        kept = _without_package_inits(imports, {"dsar", "dsar.models"})
        assert circles(kept, {"dsar", "dsar.models"}) == []

    @pytest.mark.parametrize(
        ("module", "source", "expected"),
        [
            ("dsar.x", "from dsar.store import engine\n", "dsar.store.engine"),
            ("dsar.intake.web", "from . import page\n", "dsar.intake.page"),
            ("dsar.intake", "from .app import create_app\n", "dsar.intake.app.create_app"),
        ],
    )
    def test_imports_are_read_as_module_paths(
        self, module: str, source: str, expected: str
    ) -> None:
        is_package = module == "dsar.intake"
        (found,) = imports_of(module, source, is_package=is_package)
        assert found.imported == expected
