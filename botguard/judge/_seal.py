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
#: Bytes of a seal (HMAC-SHA256), stored after the blob it seals.
SEAL_BYTES = 32
_KEYS: weakref.WeakKeyDictionary[State, bytes] = weakref.WeakKeyDictionary()


def key_path(state: State) -> Path:
    """Where the key of ``state``'s rows lives (beside its database file)."""
    return state.path.with_name(state.path.name + KEY_SUFFIX)


def state_key(state: State) -> bytes | None:
    """The key ``state``'s rows were sealed with; None when there is none or it cannot be used
    (missing, unreadable, readable by others, not a key): no stored row is trusted then, and
    every log is read whole. A scan's reads write nothing; :func:`sealing_key` mends it. An
    in-memory database gets a key of its own for the process's life."""
    if state in _KEYS:
        return _KEYS[state]
    if str(state.path) == ":memory:":
        _KEYS[state] = secrets.token_bytes(32)
        return _KEYS[state]
    key, _ = _read(key_path(state))
    if key is not None:
        _KEYS[state] = key
    return key


def sealing_key(state: State) -> tuple[bytes | None, str]:
    """The key to seal new rows with, and a line for the user ("" when all is well).

    Made on first use; made anew when the one there cannot be used (rows sealed with the old
    one are then read whole once: a key others could read may have forged them). None, with
    the reason, when no key can be kept there (a directory in its place, a read-only
    directory): nothing is stored, and every scan reads its logs whole until it is mended.
    """
    key = state_key(state)
    if key is not None:
        return key, ""
    path = key_path(state)
    _, why = _read(path)
    try:
        write_private(path, secrets.token_hex(32) + "\n", _NOUN, exclusive=not why)  # a racing scan's wins
    except KeyringError as exc:
        return None, f"{path}: {_reason(exc)}; incremental scans store nothing"
    key, again = _read(path)
    if key is None:
        return None, f"{path}: {again}; incremental scans store nothing"
    _KEYS[state] = key
    return key, f"{path}: {why}: made a new {_NOUN} (the logs were read whole)" if why else ""


def _read(path: Path) -> tuple[bytes | None, str]:
    """The key at ``path``, or None and why it cannot be used ("" when there is no file)."""
    if not path.exists() and not path.is_symlink():
        return None, ""
    try:
        return _parsed(read_private(path, _NOUN), path), ""
    except KeyringError as exc:
        return None, _reason(exc)


def _reason(exc: KeyringError) -> str:
    """The error's text without its location (the caller names the path once) nor its advice
    (the caller says what it did)."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.split(": chmod", 1)[0]


def _parsed(text: str, path: Path) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyringError(f"{_NOUN} is not 64 hex digits", Location(str(path)))
    return key


def split_seal(stored: object) -> tuple[bytes, bytes | None]:
    """A stored blob as (the blob, its seal): the seal ends it (:data:`SEAL_BYTES`); a value
    that is not bytes long enough gives (b"", None), which no seal checks."""
    if not isinstance(stored, bytes) or len(stored) <= SEAL_BYTES:
        return b"", None
    return stored[:-SEAL_BYTES], stored[-SEAL_BYTES:]


def seal(key: bytes, blob: bytes, place: tuple[object, ...]) -> bytes:
    """The seal of a stored ``blob`` at ``place`` (its kind first, then what says where it
    belongs: plain values, JSON-encoded), stored after the blob (:func:`split_seal`)."""
    message = json.dumps(place, separators=(",", ":")).encode() + b"\0" + blob[-DIGEST_BYTES:]
    return hmac.new(key, message, hashlib.sha256).digest()


def sealed(key: bytes | None, blob: object, place: tuple[object, ...], found: object) -> bool:
    """Whether ``found`` (what ended a row's blob) is the seal of ``blob`` at ``place``: False
    for a row without one (stored by an earlier version), or any value that is not."""
    if key is None or not isinstance(found, bytes) or not isinstance(blob, bytes):
        return False
    return hmac.compare_digest(found, seal(key, blob, place))
