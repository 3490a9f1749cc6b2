"""Keyed seals of the rows an incremental scan keeps in the state database.

Why: a stored partial's or kept chunk's own digest (``partial._sealed``) is unkeyed and covers
only its bytes, so whoever can write the state database could store edited rows sealed anew,
or move a valid blob to another row (a tail swapped for another file's partial, a format
changed beside its blob): the next scan would merge them as the file's. A seal is an
HMAC-SHA256, under a key only botguard reads, of the row's place (its kind, file identity,
offsets, hashes, inputs) and of its blob's own digest: a row edited, resealed without the
key, or moved to another place, is not used (the file is read whole, every client judged).

The key: :data:`KEY_SUFFIX` beside the state database (``state.db.key``), 32 random bytes in
hex, created 0600 on first store through :func:`botguard.keyring.write_private` (the one
way botguard writes a secret) and refused, like any botguard secret, when others may read it.
It is not serve's keyring: that one rotates and is shipped to other hosts.

Why the blob's digest and not the blob: its last piece is the digest of all its other bytes,
checked before anything is decoded, so sealing the digest binds the bytes; hashing a 5M-line
day's ~40 MB partial again would cost a cron run ~20 ms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import weakref
from pathlib import Path

from botguard.errors import Location
from botguard.keyring import KeyringError, read_private, write_private
from botguard.state import State

#: The key file's name: the state database's, with this after it.
KEY_SUFFIX = ".key"
_NOUN = "state key"
#: Bytes of a blob's own digest (judge.partial._DIGEST_SIZE: its last piece).
DIGEST_BYTES = 32
_KEYS: weakref.WeakKeyDictionary[State, bytes] = weakref.WeakKeyDictionary()


def key_path(state: State) -> Path:
    """Where the key of ``state``'s rows lives (beside its database file)."""
    return state.path.with_name(state.path.name + KEY_SUFFIX)


def state_key(state: State, *, create: bool) -> bytes | None:
    """The key of ``state``'s seals; None when there is none yet and ``create`` is False (a
    scan's reads write nothing: no row can be trusted then). An in-memory database gets a key
    of its own for the process's life."""
    if state in _KEYS:
        return _KEYS[state]
    if str(state.path) == ":memory:":
        _KEYS[state] = secrets.token_bytes(32)
        return _KEYS[state]
    path = key_path(state)
    if not path.exists():
        if not create:
            return None
        write_private(path, secrets.token_hex(32) + "\n", _NOUN, exclusive=True)  # a racing scan's wins
    key = _parsed(read_private(path, _NOUN), path)
    _KEYS[state] = key
    return key


def _parsed(text: str, path: Path) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyringError(
            f"{_NOUN} is not 64 hex digits: delete it (the next scan reads every log whole)",
            Location(str(path)),
        )
    return key


def seal(key: bytes, blob: bytes, place: tuple[object, ...]) -> bytes:
    """The seal of a stored ``blob`` at ``place`` (its kind first, then what says where it
    belongs: plain values, JSON-encoded). Stored as a BLOB: a text column's bytes that are
    not UTF-8 would fail in sqlite3 as they are read, so a seal column is only fetched as one."""
    message = json.dumps(place, separators=(",", ":")).encode() + b"\0" + blob[-DIGEST_BYTES:]
    return hmac.new(key, message, hashlib.sha256).digest()


def sealed(key: bytes | None, blob: object, place: tuple[object, ...], found: object) -> bool:
    """Whether ``found`` (a row's seal column) is the seal of ``blob`` at ``place``: False for
    a row without one (stored by an earlier version), or any value that is not."""
    if key is None or not isinstance(found, bytes) or not isinstance(blob, bytes):
        return False
    return hmac.compare_digest(found, seal(key, blob, place))
