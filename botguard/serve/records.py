"""Records the serve stage uses: a run request and report, keys, challenged clients, passes."""

from __future__ import annotations

from dataclasses import dataclass

from botguard.config import Settings

__all__ = ["ChallengeTargets", "Key", "Keyring", "PassCookies", "ServeReport", "ServeRequest"]


@dataclass(frozen=True, slots=True)
class ServeRequest:
    """One ``botguard serve`` run (built by the CLI from options and settings)."""

    settings: Settings
    state_path: str | None = None
    listen: str | None = None  # overrides settings.serve.listen
    access_log: str | None = None  # overrides settings.serve.access_log
    rotate_secret: bool = False  # rotate the keyring and exit instead of serving
    live_logs: tuple[str, ...] = ()  # access logs whose new lines feed the live report (/.botguard/report)
    log_format: str | None = None  # their format (None: the config's, else detected)


@dataclass(frozen=True, slots=True)
class ServeReport:
    """What a run did: where it listened, the keyring, and the key that signs (or was just made)."""

    listen: str
    secret_path: str
    key_id: str
    rotated: bool = False


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


@dataclass(frozen=True, slots=True)
class PassCookies:
    """The cookies a solved challenge earns: nginx's secure_link pair and Apache's expression form."""

    key_id: str
    expires: int  # Unix time
    nginx_hash: str  # base64url(md5("expires|bind|agent|secret")), no padding
    apache_pass: str  # "kid-YYYYMMDDhhmmss-sha1hex" (local time)

    def as_dict(self) -> dict[str, str]:
        """Cookie name -> value."""
        return {
            "bg_k": self.key_id,
            "bg_e": str(self.expires),
            "bg_h": self.nginx_hash,
            "bgpass": self.apache_pass,
        }


@dataclass(frozen=True, slots=True)
class ChallengeTargets:
    """Who must solve a challenge: addresses/networks (CIDR), exact user agents and agent substrings
    (both case-insensitive), exact (address, agent) pairs; and who never is, whatever else matches
    (the allowlist: agent substrings, networks, (address, exact agent) pairs)."""

    networks: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    clients: tuple[tuple[str, str], ...] = ()
    allow_agents: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()
    allow_clients: tuple[tuple[str, str], ...] = ()
