"""The sandbox package: its public names, and that it stands alone."""

from __future__ import annotations

import ast
from pathlib import Path

import sandbox

PACKAGE = Path(sandbox.__file__).parent
FORBIDDEN = {"dsar", "connectors", "flows"}


def isort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then functions: the order ruff keeps ``__all__`` in."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def test_all_is_sorted_complete_and_importable() -> None:
    """``__all__`` lists each re-exported name once, in order, and every name resolves."""
    names = sandbox.__all__
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))
    assert all(hasattr(sandbox, name) for name in names)
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == set(names)


def test_sandbox_imports_nothing_from_the_engine() -> None:
    """``sandbox`` must not import ``dsar``, ``connectors`` or ``flows`` (DESIGN.md)."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {m}" for m in modules if m.split(".")[0] in FORBIDDEN]
    assert offenders == []
