"""Records the serve stage uses: a run request and report, passes, and its error."""

from __future__ import annotations

from dataclasses import dataclass

from botguard.config import Settings
from botguard.errors import BotguardError

__all__ = ["PassCookies", "ServeError", "ServeReport", "ServeRequest"]


class ServeError(BotguardError):
    """The challenge service cannot start or go on (listen address, access log, admin token)."""


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
