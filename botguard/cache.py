"""Faster forms of shipped data, kept in the user's cache directory between runs.

A scan a cron job starts every few minutes on a quiet site spends most of its time starting:
validating the crawler catalogue and analysing its ~3,000 patterns, decompressing the ASN table,
parsing the published IP range lists its crawler claims name.
Their results depend only on the shipped files and the code that reads them, so they are kept
under a key naming both (:func:`source_key`) and read back on the next start.

A cache entry is a directory written whole under a temporary name and renamed into place, so a
reader sees a complete entry or none; writing one removes the entries of the same name made from
other inputs. An entry is never trusted: its reader checks what it reads
against check values written beside it and raises :class:`CacheDamaged` on any mismatch; the
entry is then removed and built again. A cache directory that cannot be written costs speed,
never a result: the value is made as if there were no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from botguard import __version__

T = TypeVar("T")

#: Bump when an entry's layout changes in a way its key does not already capture.
LAYOUT = "1"


class CacheDamaged(Exception):
    """A cache entry's content does not match its check values (internal: never reaches a user)."""


def cache_root() -> Path:
    """Where entries live (e.g. ~/.cache/botguard; ``XDG_CACHE_HOME`` is honoured)."""
    return Path(platformdirs.user_cache_dir("botguard"))


def source_key(*, files: Iterable[Path] = (), data: Iterable[bytes] = ()) -> str:
    """A key naming the exact inputs of an entry: the bytes of ``files`` (the shipped data and
    the modules that derive the entry from it) and ``data``, with botguard's version."""
    digest = hashlib.sha256(f"{LAYOUT}\0{__version__}\0".encode())
    for path in files:
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for chunk in data:
        digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def cached(
    name: str,
    key: str,
    make: Callable[[], T],
    write: Callable[[T, Path], None],
    read: Callable[[Path], T],
    root: Path | None = None,
) -> T:
    """The value kept as entry ``name``-``key``: read back when the entry is whole, else made
    with ``make`` and stored with ``write`` (into an empty directory) for the next run."""
    base = root if root is not None else cache_root()
    entry = base / f"{name}-{key}"
    if entry.is_dir():
        try:
            return read(entry)
        except (OSError, ValueError, CacheDamaged):
            shutil.rmtree(entry, ignore_errors=True)  # damaged: built again below
    value = make()
    _store(value, entry, write)
    return value


def _store(value: T, entry: Path, write: Callable[[T, Path], None]) -> None:
    """Write a new entry under a temporary name and rename it into place (a concurrent run
    that got there first wins; an unwritable cache is left alone)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    except OSError:
        return
    try:
        write(value, building)
        os.rename(building, entry)
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
        return
    _prune(entry)


def _prune(entry: Path) -> None:
    """Remove the entries of the same name made from other inputs (an upgrade or an edited
    catalogue leaves them behind; the ASN copy is 22 MB)."""
    name = entry.name.rsplit("-", 1)[0]
    for other in entry.parent.glob(f"{name}-*"):
        if other != entry and other.name.rsplit("-", 1)[0] == name:
            shutil.rmtree(other, ignore_errors=True)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, the check value of a small entry file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checked_json(value: Any, entry: Path, name: str) -> None:
    """``value`` as the JSON file ``name`` (``x.json``) of ``entry``, its SHA-256 beside it (``x.sha256``)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    (entry / name).write_bytes(body)
    (entry / _check_name(name)).write_text(hashlib.sha256(body).hexdigest())


def read_checked_json(entry: Path, name: str) -> Any:
    """The value :func:`write_checked_json` stored; :class:`CacheDamaged` unless its bytes are
    exactly what was written."""
    body = (entry / name).read_bytes()
    if hashlib.sha256(body).hexdigest() != (entry / _check_name(name)).read_text().strip():
        raise CacheDamaged(f"{entry / name} does not match its check value")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CacheDamaged(f"{entry / name}: {exc}") from None


def _check_name(name: str) -> str:
    return f"{name.removesuffix('.json')}.sha256"
