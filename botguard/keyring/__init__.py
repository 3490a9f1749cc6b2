"""Keyring stage: the secrets that sign challenges and passes (see ``README.md`` beside this file).

serve signs with them; deploy-rules renders them into the web servers' challenge routing, which
checks passes natively. Both take the keyring from here.
"""

from botguard.keyring.records import Key, Keyring
from botguard.keyring.store import (
    GRACE,
    KeyringError,
    keyring_text,
    load,
    load_or_create,
    parse,
    place,
    read_private,
    rotate,
    secret_path,
    write_private,
)

__all__ = [
    "GRACE", "Key", "Keyring", "KeyringError", "keyring_text", "load", "load_or_create", "parse", "place",
    "read_private", "rotate", "secret_path", "write_private",
]  # fmt: skip
