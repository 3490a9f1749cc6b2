"""The agents a resident server's children classified, kept in the user's cache for the next
children (``botguard daemon``).

Why: a served scan's child starts with the server's catalogue, whose classification memo is
empty (the server never classifies: that runs polars queries, and a fork after polars' pool
started may hang the child), so each child classified every agent of its log again: 17-22 ms
of CPU for the 15 agents of a 100-line log, most of a cron run's agents the same as the last
run's. A child that classified new agents writes what its catalogue knows here; the server
reads the file before its next fork when it changed, and the next child starts knowing them.

The file is a cache entry like the others (:mod:`botguard.cache`): named by the catalogue's key
(its bytes and the code that reads it), written whole under a temporary name and renamed, and
checked on every read (a SHA-256 of the key and the body ends it); an entry that fails a check,
or names a crawler the catalogue does not hold, is not used (classification is then done as
without it). Agents come from logs: at most :data:`MEMO_AGENTS` of at most
:data:`MEMO_AGENT_CHARS` characters are kept, so the file stays small whatever a log holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

from botguard.cache import cache_root
from botguard.catalog.catalog import Catalog
from botguard.catalog.records import Crawler

#: Agents kept in the file (the most recently classified), and the longest agent kept.
MEMO_AGENTS = 4096
MEMO_AGENT_CHARS = 1024
#: The largest memo file read: every kept agent at its longest, each character JSON-escaped
#: (six bytes), with room for the crawler's name. Anything bigger was not written here.
MEMO_BYTES = MEMO_AGENTS * (MEMO_AGENT_CHARS * 6 + 256) + 4096
_DIRECTORY = "agent-memo"


def memo_path(key: str) -> Path:
    """Where the memo of the catalogue with ``key`` lives."""
    return cache_root() / _DIRECTORY / f"{key}.json"


def write_memo(catalog: Catalog, key: str) -> None:
    """Write what ``catalog`` has classified (within the bounds) as the memo of ``key``; a
    cache directory that cannot be written costs only the next child's time."""
    known = [(agent, None if crawler is None else crawler.name) for agent, crawler in catalog.known()]
    kept = [pair for pair in known if len(pair[0]) <= MEMO_AGENT_CHARS][-MEMO_AGENTS:]
    body = json.dumps({"agents": kept}, ensure_ascii=False, separators=(",", ":"))
    path = memo_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".memo-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(body + "\n" + _check(key, body) + "\n")
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        return


def read_memo(catalog: Catalog, key: str) -> int:
    """Teach ``catalog`` the memo of ``key``; how many agents it holds (0: none, or not used)."""
    text = _read_bounded(memo_path(key))
    if text is None:
        return 0
    pairs = _checked(catalog, key, text)
    if pairs is None:
        return 0
    catalog.learn(pairs)
    return len(pairs)


def _read_bounded(path: Path) -> str | None:
    """The memo's text, or None. The server reads it before each fork, so whatever sits at the
    path must not stall it: the open never waits (a FIFO), only a regular file of at most
    :data:`MEMO_BYTES` is read, and at most that many bytes."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        found = os.fstat(handle)
        if not stat.S_ISREG(found.st_mode) or found.st_size > MEMO_BYTES:
            return None
        with os.fdopen(handle, "rb", closefd=False) as source:
            raw = source.read(MEMO_BYTES + 1)
        if len(raw) > MEMO_BYTES:
            return None
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(handle)


def _checked(catalog: Catalog, key: str, text: str) -> list[tuple[str, Crawler | None]] | None:
    """The memo's (agent, crawler) pairs, or None when any check fails."""
    body, _, rest = text.rstrip("\n").rpartition("\n")
    if not body or rest != _check(key, body):
        return None
    try:
        agents = json.loads(body)["agents"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(agents, list) or len(agents) > MEMO_AGENTS:
        return None
    pairs: list[tuple[str, Crawler | None]] = []
    for item in agents:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return None
        agent, name = item
        if len(agent) > MEMO_AGENT_CHARS or not (name is None or isinstance(name, str)):
            return None
        try:
            pairs.append((agent, None if name is None else catalog.by_name(name)))
        except KeyError:
            return None
    return pairs


def _check(key: str, body: str) -> str:
    return hashlib.sha256(f"{key}\0{body}".encode()).hexdigest()
