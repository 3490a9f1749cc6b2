"""The secrets that sign challenges and passes: a small JSON keyring, mode 0600, in the state directory.

Rotation keeps an overlap. :func:`rotate` puts a new key first; it starts *signing* only after
:data:`GRACE` seconds (time to re-render and reload the server files, which carry every key in the
ring), and the keys it replaces keep *verifying* until every pass they signed has expired.

:func:`read_private` and :func:`write_private` are the one way botguard reads and writes a file
that holds a secret (the keyring, serve's admin token): written atomically and 0600, refused when
others may read it.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

from botguard.errors import BotguardError, Location
from botguard.keyring.records import Key, Keyring

__all__ = [
    "FILE_NAME", "GRACE", "KeyringError", "default_secret_path", "keyring_text", "load", "load_or_create",
    "parse", "place", "read_private", "rotate", "save", "secret_path", "write_private",
]  # fmt: skip

#: Seconds a new key waits before it signs: deploy the new server files within this time.
GRACE = 300.0
FILE_NAME = "serve-secret.json"


class KeyringError(BotguardError):
    """A secret file (the keyring, serve's admin token) cannot be read, written or trusted."""


def default_secret_path(state_path: str | Path | None) -> Path:
    """``serve-secret.json`` beside the state database."""
    from botguard.state import default_state_path

    base = Path(state_path) if state_path is not None else default_state_path()
    return base.parent / FILE_NAME


def secret_path(configured: str | None, state_path: str | Path | None) -> Path:
    """Where the keyring lives: ``serve.secret_path``, else beside the state database (serve and
    deploy-rules read the same one)."""
    return Path(configured) if configured else default_secret_path(state_path)


def _new_key(now: float) -> Key:
    return Key(secrets.token_hex(4), secrets.token_hex(32), now)


def parse(text: str, where: str) -> Keyring:
    """The keyring in ``text`` (``where`` names its file in errors), strictly checked."""
    try:
        raw = json.loads(text)
        keys = tuple(Key(str(k["id"]), str(k["secret"]), float(k["created"])) for k in raw["keys"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyringError(
            f"secret file is not a botguard keyring ({exc.__class__.__name__})", Location(where)
        ) from None
    for key in keys:
        if (
            len(key.id) != 8
            or len(key.secret) != 64
            or not all(c in "0123456789abcdef" for c in key.id + key.secret)
        ):
            raise KeyringError("secret file holds a malformed key", Location(where))
    if not keys:
        raise KeyringError("secret file holds no key", Location(where))
    return Keyring(keys)


def keyring_text(ring: Keyring) -> str:
    """The keyring file's content (the one format serve reads and deploy-rules ships)."""
    keys = [{"id": k.id, "secret": k.secret, "created": k.created} for k in ring.keys]
    return json.dumps({"keys": keys}, indent=1) + "\n"


def write_private(path: Path, text: str, noun: str = "secret file", *, exclusive: bool = False) -> bool:
    """Put ``text`` at ``path`` atomically, through a temporary file created 0600 beside it, so the
    secret is never readable by others; True when written. ``exclusive`` keeps a file that is
    already there (two processes making the same secret at once both use the first one's).
    Written by root (deploy-rules, receive-rules), the file belongs to its directory's owner:
    serve, running as its own user, reads it from its state directory."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if os.geteuid() == 0:  # serve runs as its own user, in a state directory that user owns
            owner = path.parent.stat()
            os.chown(tmp, owner.st_uid, owner.st_gid)
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    except OSError as exc:
        raise KeyringError(f"cannot write {noun}: {exc.strerror}", Location(str(path))) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # gone already once replaced


def read_private(path: Path, noun: str = "secret file") -> str:
    """The text of a secret file; refused when others may read it (its secret forges passes)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(
            f"cannot read {noun}: {getattr(exc, 'strerror', exc)}", Location(str(path))
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyringError(
            f"{noun} is readable by others (mode {stat.S_IMODE(mode):04o}): chmod 600 it", Location(str(path))
        )
    return text


def save(path: Path, ring: Keyring) -> None:
    """Write the keyring (atomic, 0600)."""
    write_private(path, keyring_text(ring))


def place(path: Path, text: str) -> bool:
    """Install a keyring sent from the machine that renders the routing files (deploy-rules to a
    host's own serve): checked, then written unless the file already holds it; True if written."""
    parse(text, str(path))
    try:
        if path.read_text(encoding="ascii") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # none yet, or not ours: replace it
    write_private(path, text)
    return True


def load(path: Path) -> Keyring:
    """Read the keyring; refuse a file others can read (the secret forges passes)."""
    return parse(read_private(path), str(path))


def load_or_create(path: Path, now: float) -> Keyring:
    """The keyring at ``path``, created with one fresh key if there is none."""
    if not path.exists():
        save(path, Keyring((_new_key(now),)))
    return load(path)


def rotate(path: Path, now: float, cookie_lifetime: float) -> Keyring:
    """Put a new key first and drop the keys whose every pass has expired.

    A key stops signing when its successor is :data:`GRACE` old, so its last pass expires
    ``cookie_lifetime`` after that.
    """
    ring = load_or_create(path, now)
    kept = [ring.keys[0]]
    for older, successor in zip(ring.keys[1:], ring.keys):
        if successor.created + GRACE + cookie_lifetime > now:
            kept.append(older)
    rotated = Keyring((_new_key(now), *kept))
    save(path, rotated)
    return rotated
