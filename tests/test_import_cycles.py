"""No import cycles between stages: the tree reads as a pipeline only if dependencies run one way.

A stage is a top-level package or module of botguard (``logs``, ``model``, ``config``,
``addresses`` ...). Every ``import botguard.X`` / ``from botguard.X import`` counts, wherever it
is written: at the top, inside a function (a lazy import hides a cycle, it does not remove it)
or under ``TYPE_CHECKING``. The few imports allowed to close a cycle are listed with a reason.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "botguard"

#: (importing module, imported module) -> why this import may close a cycle between stages.
ALLOWED: dict[tuple[str, str], str] = {
    ("botguard.addresses", "botguard.decide.records"): (
        "annotations only (under TYPE_CHECKING): address_problem and rule_address read a decide "
        "Decision's match; decide, render and the config import addresses at run time"
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[tuple[str, int]]:
    """(botguard module, line) for every import of botguard in the file."""
    text = path.read_text(encoding="utf-8")
    yield from imports_of(text, module_name(path), package=path.name == "__init__.py")


def imports_of(text: str, module: str, *, package: bool) -> Iterator[tuple[str, int]]:
    """(botguard module, line) for every import of botguard in ``module``'s source, relative ones
    resolved, wherever the import statement is (top, function body, ``if TYPE_CHECKING``)."""
    home = module if package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = home.split(".")[: len(home.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from botguard import config`: the names are the modules
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "botguard" else [base]
        else:
            continue
        for name in names:
            if name == "botguard" or name.startswith("botguard."):
                yield name, node.lineno


def stage(module: str) -> str:
    """``botguard.model.stream`` -> ``model``; the package itself is ``botguard``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def stage_imports() -> dict[tuple[str, str], list[str]]:
    """(stage, imported stage) -> the import sites (``module:line -> module``), allowed ones left out."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target, line in imported(path):
            edge = (stage(source), stage(target))
            if edge[0] != edge[1] and (source, target) not in ALLOWED:
                edges.setdefault(edge, []).append(f"{source}:{line} -> {target}")
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as its nodes in order (first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start)
        if found:
            return found
    return None


def test_stages_import_each_other_one_way_only() -> None:
    """The stage graph of botguard's own imports has no cycle (allowed imports aside)."""
    edges = stage_imports()
    graph: dict[str, set[str]] = {}
    for importer, target in edges:
        graph.setdefault(importer, set()).add(target)
    cycle = find_cycle(graph)
    if cycle:
        sites = [site for a, b in itertools.pairwise(cycle) for site in edges[(a, b)]]
        pytest.fail(f"import cycle {' -> '.join(cycle)}:\n  " + "\n  ".join(sites))


def test_allowed_cycle_imports_still_exist() -> None:
    """An allowed import that is gone is removed from the list, so the list stays the truth."""
    present = {(module_name(path), target) for path in PACKAGE.rglob("*.py") for target, _ in imported(path)}
    assert set(ALLOWED) <= present, set(ALLOWED) - present


_HIDDEN = """
from typing import TYPE_CHECKING

import botguard.logs.follow as follow
from botguard import state
from . import sibling
from .records import Record

if TYPE_CHECKING:
    from botguard.deploy.records import Impact


def later():
    from botguard.config import Settings
"""


def test_the_walk_sees_lazy_relative_and_type_checking_imports() -> None:
    """The checker itself: imports inside functions, under TYPE_CHECKING and relative ones count,
    and a cycle through three stages is found."""
    names = {name for name, _ in imports_of(_HIDDEN, "botguard.model.store", package=False)}
    assert names == {
        "botguard.logs.follow", "botguard.state", "botguard.model", "botguard.model.records",
        "botguard.deploy.records", "botguard.config",
    }  # fmt: skip
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}}) is None
