"""Records of the keyring stage: one secret and the ring of secrets that verify."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Key", "Keyring"]


@dataclass(frozen=True, slots=True)
class Key:
    """One secret of the keyring; ``created`` is a Unix time (the key signs only after a grace period)."""

    id: str  # 8 hex digits, sent in the ``bg_k`` cookie and in each challenge
    secret: str  # 64 hex digits; never logged
    created: float

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"Key(id={self.id!r}, created={self.created!r})"


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys that verify (newest first); :meth:`signing` picks the one that signs."""

    keys: tuple[Key, ...]

    def signing(self, now: float, grace: float) -> Key:
        """The newest key older than ``grace`` seconds (the servers have loaded it), else the oldest."""
        settled = [key for key in self.keys if key.created <= now - grace]
        return settled[0] if settled else self.keys[-1]

    def get(self, key_id: str) -> Key | None:
        return next((key for key in self.keys if key.id == key_id), None)
