"""Stage doors: a stage reaches another only through public modules, and a door (``__init__.py``
with ``__all__``) exports what other stages use and little else.

A private module (``_columns.py``) or name (``_literal``) is free to change with its stage; the
moment another stage imports it, it is public in all but name. A door that lists names no other
stage uses hides the few that matter; the rest stay importable from their modules.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

from tests.test_import_cycles import PACKAGE, module_name, stage

#: The pipeline's stage doors. The verb layers above them (``app``, ``serve``, ``cli``) are not
#: imported by any stage: their doors index what a caller of botguard runs.
PIPELINE = (
    "catalog", "decide", "deploy", "deploy.cloudflare", "engines", "identity", "judge", "keyring", "logs",
    "model",
    "render", "report", "robots",
)  # fmt: skip


def absolute(node: ast.ImportFrom, module: str, *, package: bool) -> str:
    """The absolute module a ``from ... import`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    home = (module if package else module.rpartition(".")[0]).split(".")
    anchor = home[: len(home) - node.level + 1]
    return ".".join([*anchor, node.module] if node.module else anchor)


def names_imported(text: str, module: str, *, package: bool) -> Iterator[tuple[str, str, int]]:
    """(botguard module, name, line) for every ``from botguard... import name`` in the source;
    for ``import botguard.x.y`` the name is empty."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = absolute(node, module, package=package)
            if base == "botguard" or base.startswith("botguard."):
                for alias in node.names:
                    yield base, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("botguard."):
                    yield alias.name, "", node.lineno


def cross_stage_imports() -> Iterator[tuple[str, int, str, str]]:
    """(importing module, line, imported module, name) where the two are different stages."""
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        text = path.read_text(encoding="utf-8")
        for base, name, line in names_imported(text, source, package=path.name == "__init__.py"):
            # `from botguard import state`: the name is the module (`__version__` is a name)
            target, taken = (
                (f"{base}.{name}", "") if base == "botguard" and name != "__version__" else (base, name)
            )
            if stage(target) != stage(source):
                yield source, line, target, taken


def is_private(module: str, name: str) -> bool:
    """A ``_module`` anywhere in the dotted path, or a ``_name`` (dunders are not private)."""
    parts = module.split(".")[1:]
    private_name = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    return any(part.startswith("_") for part in parts) or private_name


def door_statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """A door's top-level statements, with those of its ``if TYPE_CHECKING:`` block: a lazy door
    (PEP 562 ``__getattr__``) names there the modules its names come from."""
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            yield from node.body
        else:
            yield node


def door(stage_name: str) -> tuple[Path, list[str], dict[str, str]]:
    """A door's file, its ``__all__``, and for each name the module it is imported from."""
    path = PACKAGE.joinpath(*stage_name.split("."), "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported: list[str] = []
    origin: dict[str, str] = {}
    for node in door_statements(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            exported = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.ImportFrom) and node.module:
            origin.update({alias.asname or alias.name: node.module for alias in node.names})
    return path, exported, origin


def test_no_stage_imports_another_stages_private_module_or_name() -> None:
    """A helper two stages share has a public home (its stage's public module, or a shared
    module such as ``botguard.text``); a ``_private`` module stays inside its own stage."""
    found = [
        f"{source}:{line} imports {target}{'.' + name if name else ''}"
        for source, line, target, name in cross_stage_imports()
        if is_private(target, name)
    ]
    assert found == []


def test_every_door_name_is_used_by_another_stage() -> None:
    """A pipeline door's ``__all__`` lists only names another stage imports (from the door or
    from the module the door takes it from); tests import the rest from their modules."""
    used = {(target, name) for _, _, target, name in cross_stage_imports()}
    unused = {}
    for stage_name in PIPELINE:
        path, exported, origin = door(stage_name)
        package = f"botguard.{stage_name}"
        idle = [n for n in exported if (package, n) not in used and (origin.get(n, package), n) not in used]
        if idle:
            unused[str(path.relative_to(PACKAGE.parent))] = idle
    assert unused == {}


def test_names_taken_from_a_door_are_in_its_all() -> None:
    """What another stage takes from a door is part of that door: it is in ``__all__``."""
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    doors = {module_name(path) for path in PACKAGE.rglob("__init__.py")} - {"botguard"}
    missing = []
    for source, line, target, name in cross_stage_imports():
        if target not in doors or not name:
            continue
        _, exported, origin = door(target.removeprefix("botguard."))
        submodule = (
            f"{target}.{name}" in modules and name not in origin
        )  # `from botguard.robots import tasks`
        if name not in exported and not submodule:
            missing.append(f"{source}:{line} takes {name} from {target}")
    assert missing == []


def test_every_name_a_door_exports_resolves() -> None:
    """A lazy door (PEP 562 ``__getattr__``) maps each name to its module by hand: every name in
    ``__all__`` gives the object, not an error, and a function named as its own module
    (``decide.catalog_lookup``) gives the function even once the module is imported."""
    import_module("botguard.decide.catalog_lookup")
    unresolved = []
    for stage_name in PIPELINE:
        module = import_module(f"botguard.{stage_name}")
        for name in door(stage_name)[1]:
            try:
                getattr(module, name)
            except AttributeError:
                unresolved.append(f"{stage_name}.{name}")
    assert unresolved == []
    assert not isinstance(import_module("botguard.decide").catalog_lookup, types.ModuleType)


def test_every_stage_folder_has_the_same_rooms() -> None:
    """A README, a ``records.py`` and a door with ``__all__`` in every pipeline stage's folder."""
    missing = [
        f"{stage_name}/{room}"
        for stage_name in PIPELINE
        for room in ("README.md", "records.py", "__init__.py")
        if not PACKAGE.joinpath(*stage_name.split("."), room).is_file()
    ]
    assert missing == []
    assert [s for s in PIPELINE if not door(s)[1]] == []


_PRIVATE = """
from botguard.judge._columns import ASSET_RE
from botguard.judge import columns, _hidden
import botguard.report._safe
from botguard import __version__
from . import _sibling
"""


def test_the_check_sees_private_modules_names_and_relative_imports() -> None:
    """The checker itself: private modules and names count, dunders and public names do not."""
    seen = [
        (target, name)
        for target, name, _ in names_imported(_PRIVATE, "botguard.model.store", package=False)
        if is_private(target, name)
    ]
    assert seen == [
        ("botguard.judge._columns", "ASSET_RE"), ("botguard.judge", "_hidden"), ("botguard.report._safe", ""),
        ("botguard.model", "_sibling"),
    ]  # fmt: skip
