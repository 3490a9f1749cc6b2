"""Read and validate a crawler catalogue YAML file into a :class:`Catalog`.

Validation is strict because the catalogue drives blocking decisions: an unknown key, a
category outside the vocabulary or a regex that does not compile is a
:class:`~botguard.errors.ConfigError` naming the file, the entry and (when it can be found) the
line.

Loading runs on every scan, so it is kept to a few tens of milliseconds: the generated
catalogue is written as JSON-compatible YAML (full-line ``#`` comments, then one JSON object per
entry), which the C ``json`` parser reads ~20x faster than libyaml; a hand-edited file that is
not JSON falls back to the YAML parser. Plain-text patterns (most of them) need no compiling to
be known valid.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from botguard.cache import cached, source_key
from botguard.catalog._compiled import SOURCES, read_compiled, write_compiled
from botguard.catalog._literals import is_plain
from botguard.catalog.catalog import Catalog
from botguard.catalog.memo import memo_path, read_memo, write_memo
from botguard.catalog.records import CATEGORIES, Crawler, Verification
from botguard.errors import ConfigError, Location
from botguard.yamldata import SafeLoader, safe_load

#: RFC 9309 product tokens: letters, "_" and "-" only.
ROBOTS_TOKEN = re.compile(r"[A-Za-z_-]+")

_REQUIRED = ("name", "operator", "category", "patterns", "robots_token", "respects_robots", "verification")
_OPTIONAL = ("url", "generic", "priority")
_TOP_KEYS = frozenset({"version", "sources", "exclusions", "masks", "crawlers"})
#: The bundled catalogue as loaded, by key, in a process that forks the commands that use it
#: (botguard daemon: :func:`keep_bundled_catalog`). Empty in every other process.
_KEPT: dict[str, Catalog] = {}
#: Per kept catalogue: its memo file as last read (inode, size, mtime) and how many agents the
#: catalogue knew then (catalog.memo).
_MEMO_READ: dict[str, tuple[tuple[int, int, int] | None, int]] = {}


class _EntryError(Exception):
    """A problem in one crawler entry, turned into a ConfigError with the entry's location."""

    def __init__(self, index: int, name: object, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.name = name


def bundled_path() -> Path:
    """Path of the catalogue shipped as package data (``botguard.rules/crawlers.yaml``)."""
    return Path(str(resources.files("botguard.rules") / "crawlers.yaml"))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load a catalogue: the bundled one by default, or the YAML file at ``path``.

    The bundled one is read from its compiled form in the user's cache when that is whole and
    was made from these bytes by this code (:mod:`botguard.catalog._compiled`).

    Examples
    --------
    >>> cat = load_catalog()
    >>> cat.by_name("Bytespider").robots_token
    'Bytespider'
    """
    file = Path(path) if path is not None else bundled_path()
    try:
        data = file.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read crawler catalogue: {exc}", Location(str(file))) from exc
    if path is not None:
        return _load(text, file)
    key = source_key(files=SOURCES, data=(data,))
    kept = _KEPT.get(key)
    if kept is not None:
        return kept
    return cached("catalog", key, lambda: _load(text, file), write_compiled, read_compiled)


def keep_bundled_catalog() -> None:
    """Load the bundled catalogue now and keep it for the children this process forks (the
    resident server's): each gets it as loaded, untouched by any scan (a child's use of it
    stays in the child), and skips reading it (~50 ms) and building its matcher (~20 ms: plain
    Python and ``re``, no polars query). Its key (the file's bytes and the code that reads it)
    is worked out on every load, so an edited catalogue is loaded again."""
    file = bundled_path()
    key = source_key(files=SOURCES, data=(file.read_bytes(),))
    catalog = load_catalog()
    catalog.matcher()
    _KEPT[key] = catalog
    _MEMO_READ.clear()
    refresh_kept_memo()


def refresh_kept_memo() -> None:
    """Teach the kept catalogue the agents the children classified since (catalog.memo), when
    its memo file changed since last read: the server calls it before each fork."""
    for key, catalog in _KEPT.items():
        try:
            found = memo_path(key).stat()
        except OSError:
            continue
        seen = (found.st_ino, found.st_size, found.st_mtime_ns)
        if _MEMO_READ.get(key, (None, 0))[0] != seen:
            read_memo(catalog, key)
            _MEMO_READ[key] = (seen, len(catalog.known()))


def save_kept_memo() -> None:
    """In a child of the server: write the kept catalogue's memo when this command classified
    agents the server did not know (the next child starts knowing them)."""
    for key, catalog in _KEPT.items():
        if len(catalog.known()) != _MEMO_READ.get(key, (None, 0))[1]:
            write_memo(catalog, key)


def _load(text: str, file: Path) -> Catalog:
    """Validate a catalogue's text (``file`` names it in errors)."""
    doc = _parse(text, file)
    try:
        crawlers, exclusions, masks = parse_document(doc)
    except _EntryError as exc:
        where = Location(str(file), _entry_line(text, exc.index))
        raise ConfigError(f"crawler entry #{exc.index} ({exc.name}): {exc}", where) from None
    except ValueError as exc:
        raise ConfigError(f"crawler catalogue: {exc}", Location(str(file))) from None
    return Catalog(crawlers, exclusions, masks=masks)


def _parse(text: str, file: Path) -> object:
    """JSON fast path for generated files, YAML for anything else."""
    body = "\n".join("" if line.lstrip().startswith("#") else line for line in text.split("\n"))
    if body.lstrip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML in crawler catalogue: {exc}", Location(str(file), line)) from exc


def parse_document(doc: object) -> tuple[list[Crawler], list[str], list[str]]:
    """Validate a parsed YAML document: its crawlers, exclusions and masks.

    ``ValueError``/``_EntryError`` say what is wrong.
    """
    if not isinstance(doc, dict):
        raise ValueError("top level must be a mapping with a 'crawlers' list")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ValueError(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    entries = doc.get("crawlers")
    if not isinstance(entries, list):
        raise ValueError("'crawlers' must be a list of entries")
    exclusions = _regex_list(doc.get("exclusions") or [], "exclusions")
    masks = _regex_list(doc.get("masks") or [], "masks")
    crawlers = [_crawler(i, e) for i, e in enumerate(entries)]
    _check_unique(crawlers)
    return crawlers, exclusions, masks


def _regex_list(value: object, key: str) -> list[str]:
    """Regexes removed from agents before matching (``exclusions``, ``masks``); each must compile."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' must be a list of regex strings")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{key} entry {pattern!r} does not compile: {exc}") from None
    return value


def _crawler(index: int, entry: object) -> Crawler:
    """Build one validated record from a YAML mapping."""
    if not isinstance(entry, dict):
        raise _EntryError(index, None, "entry must be a mapping")
    name = entry.get("name")

    def fail(message: str) -> _EntryError:
        return _EntryError(index, name, message)

    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise fail(f"missing key(s): {', '.join(missing)}")
    unknown = set(entry) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise fail(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    for key in ("name", "operator"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise fail(f"'{key}' must be a non-empty string")
    if entry["category"] not in CATEGORIES:
        raise fail(f"category {entry['category']!r} is not one of {', '.join(CATEGORIES)}")
    return Crawler(
        name=entry["name"],
        operator=entry["operator"],
        category=entry["category"],
        patterns=_patterns(entry["patterns"], fail),
        robots_token=_token(entry["robots_token"], fail),
        respects_robots=_optional_bool(entry["respects_robots"], "respects_robots", fail),
        verification=_verification(entry["verification"], fail),
        url=_optional_str(entry.get("url"), "url", fail),
        generic=bool(_optional_bool(entry.get("generic", False), "generic", fail)),
        priority=_priority(entry.get("priority", 0), fail),
    )


def _priority(value: object, fail: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise fail("'priority' must be an integer")


def _patterns(value: object, fail: Any) -> tuple[str, ...]:
    """Patterns must be strings that compile; compiled again lazily by the matcher."""
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise fail("'patterns' must be a list of non-empty regex strings")
    for pattern in value:
        if is_plain(pattern):
            continue
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise fail(f"pattern {pattern!r} does not compile: {exc}") from None
    return tuple(value)


def _token(value: object, fail: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ROBOTS_TOKEN.fullmatch(value):
        raise fail(f"robots_token {value!r} must match [A-Za-z_-]+ (RFC 9309) or be null")
    return value


def _optional_bool(value: object, key: str, fail: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise fail(f"'{key}' must be true, false or null")


def _optional_str(value: object, key: str, fail: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise fail(f"'{key}' must be a string or null")


def _verification(value: object, fail: Any) -> Verification | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"ip_ranges", "rdns_suffixes"}:
        raise fail("'verification' must be null or a mapping of ip_ranges and rdns_suffixes")
    lists = []
    for key in ("ip_ranges", "rdns_suffixes"):
        items = value.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise fail(f"'verification.{key}' must be a list of strings")
        lists.append(tuple(items))
    return Verification(ip_ranges=lists[0], rdns_suffixes=lists[1])


def _check_unique(crawlers: list[Crawler]) -> None:
    seen: dict[str, int] = {}
    for i, c in enumerate(crawlers):
        if c.name in seen:
            raise _EntryError(i, c.name, f"duplicate name (first used by entry #{seen[c.name]})")
        seen[c.name] = i


def _entry_line(text: str, index: int) -> int | None:
    """1-based line where entry ``index`` starts (slow path: only used to report errors)."""
    try:
        root = yaml.compose(text, Loader=SafeLoader)
        for key, value in root.value if root is not None else ():
            if key.value == "crawlers":
                return value.value[index].start_mark.line + 1
    except (yaml.YAMLError, AttributeError, IndexError, TypeError):
        pass
    return None
