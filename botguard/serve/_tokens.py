"""Challenges, the proof of work, and the pass cookies the web servers check themselves.

A challenge is ``1.EXPIRES.DIFFICULTY.RANDOM.KEYID.MAC``: MAC is an HMAC-SHA256 (truncated to 128
bits) over those fields *and* the client's binding and user agent, so a challenge solved by one
client is worth nothing to another. The work: find a decimal COUNTER such that
``SHA-256("CHALLENGE:COUNTER")`` starts with DIFFICULTY zero bits.

A solved challenge earns two cookie forms over the same facts (expiry, binding, agent, secret),
one per server, each in the only form that server can hash natively:

* nginx ``secure_link_md5 "$secure_link_expires|$botguard_bind|$http_user_agent|$botguard_secret"``:
  ``bg_e`` = expiry as Unix time, ``bg_h`` = base64url(md5(...)) without padding, ``bg_k`` = key id;
* Apache ``sha1('STAMP|%{ENV:botguard_bind}|%{HTTP_USER_AGENT}|SECRET')``: ``bgpass`` =
  ``KEYID-STAMP-SHA1HEX`` with STAMP the expiry as *local* ``YYYYMMDDhhmmss`` (ap_expr has no
  Unix time, only ``%{TIME}``): serve and Apache must share a clock and a time zone.

The ``|`` separators matter: without them a client in 11.2.3.0/24 could pass a cookie issued to
1.2.3.0/24 by moving a digit from the binding into the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from functools import lru_cache

from botguard.errors import BotguardError
from botguard.keyring import Key, Keyring
from botguard.serve.records import PassCookies

__all__ = ["ChallengeRefused", "issue", "leading_zero_bits", "pass_cookies", "raw", "verify"]

_TOKEN = re.compile(r"1\.(\d{10,12})\.(\d{1,2})\.([A-Za-z0-9_-]{22})\.([0-9a-f]{8})\.([A-Za-z0-9_-]{22})")
_COUNTER = re.compile(r"\d{1,16}")


class ChallengeRefused(BotguardError):
    """A verification that fails; ``message`` is the short reason the client and the log get."""


def raw(text: str) -> bytes:
    """The bytes the web server hashed: header values arrive decoded with surrogateescape."""
    return text.encode("utf-8", "surrogateescape")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=16)
def _mac_key(secret: str) -> bytes:
    """A key for challenge MACs only, derived so a MAC never doubles as a pass hash."""
    return hashlib.sha256(b"botguard-challenge|" + secret.encode("ascii")).digest()


def _mac(key: Key, fields: str, bind: str, agent: str) -> str:
    message = f"{fields}|{bind}|".encode("ascii", "surrogateescape") + raw(agent)
    return _b64(hmac.new(_mac_key(key.secret), message, hashlib.sha256).digest()[:16])


def issue(key: Key, bind: str, agent: str, difficulty: int, now: float, lifetime: float) -> str:
    """A fresh challenge for this client."""
    fields = f"1.{int(now + lifetime)}.{difficulty}.{_b64(secrets.token_bytes(16))}.{key.id}"
    return f"{fields}.{_mac(key, fields, bind, agent)}"


def leading_zero_bits(digest: bytes) -> int:
    """Number of leading zero bits of a digest.

    Examples:
        >>> leading_zero_bits(bytes([0, 0, 0x0F, 0xFF]))
        20
    """
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def verify(
    token: str, counter: str, bind: str, agent: str, ring: Keyring, now: float, min_difficulty: int
) -> Key:
    """The key that issued ``token`` if the work is done and the challenge is this client's, else raise."""
    match = _TOKEN.fullmatch(token)
    if match is None or _COUNTER.fullmatch(counter) is None:
        raise ChallengeRefused("malformed")
    expires, difficulty, key_id = int(match[1]), int(match[2]), match[4]
    key = ring.get(key_id)
    if key is None:
        raise ChallengeRefused("unknown key")
    fields = token[: match.start(5) - 1]
    if not hmac.compare_digest(_mac(key, fields, bind, agent), match[5]):
        raise ChallengeRefused("not issued to this client")
    if expires < now:
        raise ChallengeRefused("expired")
    if difficulty < min_difficulty:
        raise ChallengeRefused("too easy")
    digest = hashlib.sha256(f"{token}:{counter}".encode("ascii")).digest()
    if leading_zero_bits(digest) < difficulty:
        raise ChallengeRefused("not enough work")
    return key


def apache_stamp(expires: int) -> str:
    """``expires`` as Apache's ``%{TIME}`` shows it: local ``YYYYMMDDhhmmss``."""
    return time.strftime("%Y%m%d%H%M%S", time.localtime(expires))


def pass_cookies(key: Key, bind: str, agent: str, expires: int) -> PassCookies:
    """Both servers' pass forms for this client, valid until ``expires`` (Unix time)."""
    tail = b"|" + raw(agent) + b"|" + key.secret.encode("ascii")
    md5 = hashlib.md5(f"{expires}|{bind}".encode("ascii") + tail).digest()
    stamp = apache_stamp(expires)
    sha1 = hashlib.sha1(f"{stamp}|{bind}".encode("ascii") + tail).hexdigest()
    return PassCookies(key.id, expires, _b64(md5), f"{key.id}-{stamp}-{sha1}")
