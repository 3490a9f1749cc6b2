"""Records the robots stage produces: rules, permissions, lint findings, fetched versions.

Every record is frozen: a permission's evidence (the deciding rule and its line) must not change
after it was computed, because scan reports quote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The two rule directives Google's reference acts on.
ALLOW = "allow"
DISALLOW = "disallow"


@dataclass(frozen=True, slots=True)
class Rule:
    """One allow/disallow line as the matcher sees it.

    ``pattern`` is the *normalised* pattern (``%xx`` upper-cased, bytes >= 0x80 %-encoded),
    i.e. exactly what is compared with the URL path; ``line`` is 1-based, counted the way
    Google's parser counts lines (LF, CR and CRLF each end one line).
    """

    line: int
    directive: str  # ALLOW or DISALLOW
    pattern: str

    @property
    def priority(self) -> int:
        """Google's match priority: the byte length of the normalised pattern."""
        return len(self.pattern)

    def __str__(self) -> str:
        return f"line {self.line}: {self.directive.capitalize()}: {self.pattern}"


@dataclass(frozen=True, slots=True)
class Group:
    """One group of a robots.txt: its user-agent values and member rules, in file order.

    ``agents`` keeps each user-agent value as written (trimmed, comment removed); matching
    reduces it to Google's product-token form at lookup time.
    """

    agents: tuple[str, ...]
    rules: tuple[Rule, ...]
    crawl_delay: float | None = None
    first_line: int = 0


@dataclass(frozen=True, slots=True)
class Permission:
    """Whether one URL is allowed for one agent, and the rule that decided it.

    ``rule`` is None when no rule with a non-empty pattern matched (allowed by default).
    """

    allowed: bool
    rule: Rule | None
    path: str


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One problem on one line of a robots.txt (``line`` 0 means the whole file)."""

    line: int
    code: str  # stable short identifier, e.g. "rule-before-agent"
    message: str
    severity: str = "warning"  # "warning" | "error" | "info"

    def __str__(self) -> str:
        return f"{self.line}: {self.severity}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class Truncation:
    """What a crawler leaves unread of a robots.txt longer than it reads (see ``robots.limit``).

    ``line`` is the last line read, numbered as Google numbers lines; ``partial`` says the limit
    fell inside it, so only its start counts. ``size`` is the whole file's size when known.
    """

    size: int | None
    kept: int
    line: int
    partial: bool

    def __str__(self) -> str:
        whole = f" of {_size(self.size)}" if self.size else ""
        rest = (
            f"line {self.line} is cut at the limit and everything after it is ignored"
            if self.partial
            else f"everything after line {self.line} is ignored"
        )
        return f"only the first {_size(self.kept)}{whole} is read, as Google reads it: {rest}"


def _size(size: int) -> str:
    """500 KiB, 9.9 MiB: a byte count as people read it."""
    if size < 1024 * 1024:
        return f"{size / 1024:.4g} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What fetching one host's robots.txt produced, per RFC 9309 section 2.3.1.

    ``kind`` says how ``body`` must be read: ``ok`` (a 2xx body, possibly truncated),
    ``allow-all`` (4xx: the site has no usable robots.txt), ``disallow-all`` (5xx or unreachable
    and no cached copy young enough) or ``cached`` (5xx/unreachable, the cached body is used).
    """

    url: str
    kind: str
    body: bytes
    status: int | None
    fetched_at: datetime
    final_url: str | None = None
    truncated: bool = False
    redirects: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RobotsVersion:
    """One version of a host's robots.txt and the time it was live.

    ``superseded_at`` is None for the current version. Per RFC 9309 a crawler may keep using
    a version for up to 24 hours after it was superseded (its cache lifetime).
    """

    host: str
    version_id: int
    body: bytes
    sha256: str
    first_seen: datetime
    last_seen: datetime
    superseded_at: datetime | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class RobotsParseStats:
    """Honest counts of what the parser saw (it never raises on a bad line)."""

    lines: int
    directives: int  # lines that carried a recognised key
    unknown: int  # lines with a key Google does not know (crawl-delay, content-signal, ...)
    skipped: int  # non-blank, non-comment lines with no usable key/value
    orphan_rules: int  # allow/disallow before any user-agent line (ignored)
