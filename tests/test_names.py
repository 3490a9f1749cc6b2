"""One name per concept: a record or type name is defined once in the package, and no stage
defines a public function named after another stage."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "botguard"
STAGES = frozenset(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(PACKAGE.rglob("*.py"))]


def _type_names(tree: ast.Module) -> list[str]:
    """Classes and type aliases (``Name = A | B``, CapWords) defined at module level."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [
                t.id for t in targets if isinstance(t, ast.Name) and t.id[0].isupper() and not t.id.isupper()
            ]
    return names


def test_every_record_and_type_name_is_defined_once() -> None:
    """Verdict, Evidence, Group, ParseStats, Network...: one definition each, imported elsewhere."""
    where: defaultdict[str, list[str]] = defaultdict(list)
    for path, tree in _modules():
        for name in _type_names(tree):
            where[name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}


def test_no_public_function_is_named_after_another_stage() -> None:
    """``identity.enrich.decide`` read as the decide stage: a stage's functions use other words."""
    clashes = [
        f"{path.relative_to(PACKAGE)}: {node.name}"
        for path, tree in _modules()
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name in STAGES - {path.relative_to(PACKAGE).parts[0], "cli"}
    ]
    assert clashes == []
