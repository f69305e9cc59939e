"""The house's rules, read from the code itself (DESIGN.md, "The house"): arrows point one way.

Every ``import`` in ``kizuna/`` is read with :mod:`ast` (function-level imports included, imports under
``if TYPE_CHECKING:`` left out, as they never run), resolved to modules of the package, and checked:

* no import circle anywhere in ``kizuna/``;
* the TAXII interface and the web UI never import each other (the composition root mounts both);
* only ``kizuna/hub/store/`` and the composition roots name a concrete store backend;
* ``stix/`` and ``hub/`` never import a domain wing (detect, space, minerals, ingest).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kizuna"

#: Modules allowed to name a concrete store backend: the places that decide which store a process uses.
COMPOSITION_ROOTS = {"kizuna.hub.cli", "kizuna.hub.demo", "kizuna.ingest.cli"}
CONCRETE_STORES = ("kizuna.hub.store.sqlite", "kizuna.hub.store.postgres")
DOMAINS = ("kizuna.detect", "kizuna.space", "kizuna.minerals", "kizuna.ingest")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Absolute names imported by ``tree`` (skipping ``if TYPE_CHECKING:`` blocks)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                yield f"{base}.{alias.name}"
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """module -> the kizuna modules it imports (``from P import name`` counts as importing module
    ``P.name`` when there is one, else ``P``; a package's parents are not counted, as Python imports them
    for every submodule)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for imported in _imports(tree, name, path.name == "__init__.py"):
            if not imported.startswith("kizuna"):
                continue
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


GRAPH = import_graph()


def test_the_graph_is_read() -> None:
    assert "kizuna.hub.app" in GRAPH and "kizuna.hub.taxii.routes" in GRAPH["kizuna.hub.app"]
    assert "kizuna.web" in GRAPH["kizuna.hub.app"]
    assert "kizuna.hub.store.sqlite.store" in GRAPH["kizuna.hub.store.sqlite"]


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle_in_kizuna() -> None:
    cycle = _cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def _importers(prefix: str) -> dict[str, set[str]]:
    return {
        m: {t for t in targets if t == prefix or t.startswith(prefix + ".")}
        for m, targets in GRAPH.items()
        if any(t == prefix or t.startswith(prefix + ".") for t in targets)
    }


@pytest.mark.parametrize(
    ("side", "other"), [("kizuna.hub.taxii", "kizuna.web"), ("kizuna.web", "kizuna.hub.taxii")]
)
def test_taxii_and_web_do_not_import_each_other(side: str, other: str) -> None:
    offenders = {m: t for m, t in _importers(other).items() if m == side or m.startswith(side + ".")}
    assert offenders == {}


def test_only_the_store_and_composition_roots_name_a_concrete_store() -> None:
    offenders: dict[str, set[str]] = {}
    for backend in CONCRETE_STORES:
        for m, targets in _importers(backend).items():
            if m.startswith("kizuna.hub.store.") or m in COMPOSITION_ROOTS:
                continue
            offenders.setdefault(m, set()).update(targets)
    assert offenders == {}


def test_stix_and_hub_import_no_domain() -> None:
    offenders = {
        m: t
        for domain in DOMAINS
        for m, t in _importers(domain).items()
        if (m.startswith(("kizuna.stix", "kizuna.hub")) and m not in COMPOSITION_ROOTS)
    }
    assert offenders == {}


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The scan is not blind: an import under TYPE_CHECKING is skipped, a function-level one counts."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from kizuna.web import ui\n"
        "def f():\n    from kizuna.hub.store.sqlite import SQLiteStore\n"
    )
    names = set(_imports(tree, "kizuna.hub.taxii.routes", False))
    assert "kizuna.hub.store.sqlite.SQLiteStore" in names
    assert not any(n.startswith("kizuna.web") for n in names)
