"""Published IP ranges of crawler operators: the bundled lists and a fast membership test.

Each list is a sorted table of (first, last) integer keys with a running maximum of ``last``,
so nested or overlapping networks (Meta's /18 and its /24s) need no merging and a match still
names the exact network: bisect to the last network starting at or before the IP, and walk
back only while an earlier network could still reach it.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from botguard.cache import CacheDamaged, cached, read_checked_json, source_key, write_checked_json
from botguard.errors import InputError, Location
from botguard.identity import _ip
from botguard.identity._ip import ip_key, network_bounds
from botguard.identity.records import RangeList, RangeMatch
from botguard.yamldata import safe_load

INDEX = "index.yaml"


@dataclass(frozen=True, slots=True)
class _Table:
    """One list's networks sorted by first key, with the running maximum of last keys."""

    firsts: list[int]
    lasts: list[int]
    reach: list[int]  # reach[i] = max(lasts[:i+1])
    networks: list[str]

    @classmethod
    def build(cls, networks: Iterable[str]) -> _Table:
        rows = sorted({(b[0], b[1], n.strip()) for n in networks if (b := network_bounds(n)) is not None})
        reach, top = [], -1
        for _, last, _ in rows:
            top = max(top, last)
            reach.append(top)
        return cls([r[0] for r in rows], [r[1] for r in rows], reach, [r[2] for r in rows])

    def find(self, key: int) -> str | None:
        """The most specific-starting network that contains the key, or None."""
        i = bisect_right(self.firsts, key) - 1
        while i >= 0 and self.reach[i] >= key:
            if self.lasts[i] >= key:
                return self.networks[i]
            i -= 1
        return None

    def __len__(self) -> int:
        return len(self.firsts)


#: What a process that forks the commands that use them (botguard daemon: :func:`keep_bundled_ranges`)
#: has read of the shipped lists: each index by its text, each list's table by its name and
#: cache key (the list file's bytes and the code). Empty in every other process.
_KEPT_INDEXES: dict[str, dict[str, RangeList]] = {}
_KEPT_TABLES: dict[tuple[str, str], _Table] = {}


def _read_index(root: Traversable | Path) -> dict[str, RangeList]:
    where = Location(str(root.joinpath(INDEX)))
    try:
        text = root.joinpath(INDEX).read_text(encoding="utf-8")
        kept = _KEPT_INDEXES.get(text)
        if kept is not None:
            return dict(kept)  # the caller overlays updated lists on its own copy
        index = safe_load(text) or {}
        return {
            name: RangeList(name=name, **{k: str(v) for k, v in entry.items()})
            for name, entry in index.items()
        }
    except (OSError, yaml.YAMLError, TypeError, AttributeError) as exc:
        raise InputError(f"cannot read IP range index: {exc}", where) from None


def _networks(text: str, fmt: str) -> list[str]:
    """The CIDR strings of one list file in one of the three bundled formats."""
    if fmt == "lines":
        return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    data = json.loads(text)
    if fmt == "google":
        return [p.get("ipv4Prefix") or p.get("ipv6Prefix") or "" for p in data.get("prefixes", [])]
    if fmt == "objects":
        return [str(item.get("ip", "")) for item in data]
    raise ValueError(f"unknown range list format {fmt!r}")


#: The modules whose code decides what a list's table holds (part of its cache key).
_CODE = (Path(__file__), Path(_ip.__file__))
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_BODY = "table.json"


def _load_table(name: str, path: Traversable | Path, fmt: str) -> _Table:
    """A list's table, from its :mod:`botguard.cache` entry when the list file's bytes (shipped or
    refreshed by `botguard update`) and this code are the ones it was made from: parsing a big
    list costs a scan's start ~17 ms (AhrefsBot's ~10,000 networks), reading it back ~2 ms."""

    def make() -> _Table:
        return _Table.build(_networks(path.read_text(encoding="utf-8"), fmt))

    if not isinstance(path, Path) or not _SLUG.fullmatch(name):  # inside a zip; a name no entry can take
        return make()
    key = source_key(files=(path, *_CODE), data=[fmt.encode()])  # the lists are small: keyed by their bytes
    kept = _KEPT_TABLES.get((name, key))
    if kept is not None:
        return kept
    return cached(f"ranges-{name}", key, make, _write_table, _read_table)


def keep_bundled_ranges() -> None:
    """Read the shipped index and every shipped list now and keep them for the children this
    process forks (the resident server's): a child's scan then skips parsing the index's YAML
    and reading the tables of the lists its crawler claims name (~25 ms of a 100-line scan;
    plain Python objects, no polars query). A child finds them only under the key of the bytes
    it reads itself, so an edited list or index is read again; lists refreshed by `botguard
    update` (beside a state database) are read by each child as before."""
    root = resources.files("botguard.rules").joinpath("ip-ranges")
    if not isinstance(root, Path):  # inside a zip: nothing to key them by
        return
    text = root.joinpath(INDEX).read_text(encoding="utf-8")
    lists = _read_index(root)
    _KEPT_INDEXES[text] = dict(lists)
    for name, entry in lists.items():
        path = root / entry.file
        if _SLUG.fullmatch(name):
            key = source_key(files=(path, *_CODE), data=[entry.format.encode()])
            _KEPT_TABLES[(name, key)] = _load_table(name, path, entry.format)


def _write_table(table: _Table, entry: Path) -> None:
    write_checked_json([table.firsts, table.lasts, table.reach, table.networks], entry, _BODY)


def _read_table(entry: Path) -> _Table:
    try:
        firsts, lasts, reach, networks = read_checked_json(entry, _BODY)
        if not len(firsts) == len(lasts) == len(reach) == len(networks):
            raise CacheDamaged(f"{entry / _BODY}: columns of unequal length")
    except (TypeError, ValueError) as exc:
        raise CacheDamaged(f"{entry / _BODY}: {exc}") from None
    return _Table(firsts, lasts, reach, networks)


@dataclass(slots=True)
class PublishedRanges:
    """The published range lists by name; each list is parsed on first use.

    Examples:
        >>> ranges = PublishedRanges.bundled()
        >>> ranges.match("66.249.66.1", ["googlebot"])[0].list
        'googlebot'
        >>> ranges.match("203.0.113.9", ["googlebot"])
        ()
    """

    lists: dict[str, RangeList]
    root: Traversable | Path
    _tables: dict[str, _Table] = field(default_factory=dict)

    @classmethod
    def bundled(cls, updated: Path | None = None) -> PublishedRanges:
        """The lists shipped in rules/ip-ranges, overlaid by `botguard update`'s copies in ``updated``."""
        return cls.from_dir(resources.files("botguard.rules").joinpath("ip-ranges"), updated)

    @classmethod
    def from_dir(cls, root: Traversable | Path, updated: Path | None = None) -> PublishedRanges:
        """Lists described by ``root/index.yaml`` (name -> file, format, source, date, licence),
        with the entries of ``updated/index.yaml`` (fresher copies) replacing theirs."""
        lists = _read_index(root)
        if updated is not None and updated.joinpath(INDEX).is_file():
            for name, entry in _read_index(updated).items():
                lists[name] = replace(entry, location=str(updated / entry.file))
        return cls(lists, root)

    def published(self, names: Iterable[str] | None = None) -> date | None:
        """The oldest snapshot date of the named lists (of all lists when None)."""
        dates = [
            date.fromisoformat(self.lists[n].date)
            for n in (self.names() if names is None else names)
            if n in self.lists
        ]
        return min(dates) if dates else None

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.lists))

    def table(self, name: str) -> _Table:
        """The parsed list (memoised on this object: configure once, look up many)."""
        if name not in self._tables:
            entry = self.lists[name]
            path = Path(entry.location) if entry.location else self.root.joinpath(entry.file)
            try:
                self._tables[name] = _load_table(name, path, entry.format)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read IP range list {name!r}: {exc}", Location(str(path))) from None
        return self._tables[name]

    def match(self, ip: str, names: Iterable[str] | None = None) -> tuple[RangeMatch, ...]:
        """Every named list (all lists when None) with a network containing ``ip``."""
        key = ip_key(ip)
        if key is None:
            return ()
        found = []
        for name in self.names() if names is None else names:
            if name not in self.lists:
                continue
            network = self.table(name).find(key)
            if network is not None:
                entry = self.lists[name]
                found.append(RangeMatch(name, network, entry.source, entry.date))
        return tuple(found)
