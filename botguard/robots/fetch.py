"""Fetch a host's robots.txt with RFC 9309 section 2.3.1 semantics (requests).

Policy, by outcome (``FetchResult.kind``):

* **2xx**: the body is the robots.txt, truncated at 500 KiB (``limit.MAX_BYTES``: RFC 9309 requires
  parsing at least 500 KiB; Google stops there; local files get the same limit) -> ``ok``;
* **redirects**: followed by hand, at most 5 hops; more means "unavailable" like a 4xx, as RFC
  9309 2.3.1.2 allows and Google does -> ``allow-all`` with an ``error``;
* **4xx** (except 429): unavailable, the crawler may access everything -> ``allow-all``;
* **5xx, 429, timeouts, connection errors**: unreachable. With a cached copy fetched less than
  24 hours ago that copy is used (``cached``), else complete disallow (``disallow-all``). 429 is
  treated as a server error, as Google does (it signals overload, not absence).

Time comes from an injected clock, the network from an injected ``requests.Session``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

from botguard import __version__
from botguard.robots.limit import MAX_BYTES
from botguard.robots.parser import RobotsTxt
from botguard.robots.records import FetchResult

if TYPE_CHECKING:  # history imports this module; requests is imported where a fetch happens
    import requests

    from botguard.robots.history import RobotsTimeline
    from botguard.state import State

MAX_REDIRECTS = 5
CACHE_GRACE = timedelta(hours=24)

OK, ALLOW_ALL, DISALLOW_ALL, CACHED = "ok", "allow-all", "disallow-all", "cached"


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


class RobotsCache(Protocol):
    """Where the fetcher finds a previous copy when the site is unreachable."""

    def cached(self, host: str, now: datetime) -> tuple[bytes, datetime] | None:
        """The newest good copy and when it was last fetched, if at most 24 h old."""


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits for one fetch; defaults follow RFC 9309 and common crawler practice."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0  # a slow-drip server cannot hold us longer than this
    max_bytes: int = MAX_BYTES
    max_redirects: int = MAX_REDIRECTS
    user_agent: str = f"botguard/{__version__} (robots.txt history; +https://github.com/botguard)"


def robots_url(host_or_url: str) -> str:
    """``example.com`` -> ``https://example.com/robots.txt``; a full URL is kept as given."""
    if "://" in host_or_url:
        return host_or_url
    return f"https://{host_or_url}/robots.txt"


def host_key(url: str) -> str:
    """The cache/history key of a robots.txt URL: its lower-cased authority (host[:port])."""
    return urlsplit(url).netloc.lower()


def fetch_robots(
    host_or_url: str,
    *,
    session: requests.Session | None = None,
    settings: FetchSettings = FetchSettings(),
    cache: RobotsCache | None = None,
    now: Callable[[], datetime] = utc_now,
) -> FetchResult:
    """Fetch one robots.txt; never raises for network or HTTP trouble (see module policy)."""
    import requests  # here: a scan that fetches nothing never pays for importing it

    url = robots_url(host_or_url)
    session = session or requests.Session()
    started, current = time.monotonic(), url
    for hops in range(settings.max_redirects + 1):
        try:
            response = _get(session, current, settings)
        except requests.RequestException as exc:
            return _unreachable(url, None, f"{type(exc).__name__}: {exc}", cache, now, hops)
        with response:
            status = response.status_code
            if 300 <= status < 400 and response.headers.get("Location"):
                current = urljoin(current, response.headers["Location"])
                continue
            if 200 <= status < 300:
                try:
                    body, truncated = _read_capped(response, settings, started)
                except (requests.RequestException, TimeoutError) as exc:
                    return _unreachable(url, status, f"{type(exc).__name__}: {exc}", cache, now, hops)
                return FetchResult(url, OK, body, status, now(), current, truncated, hops)
            if status == 429 or status >= 500:
                return _unreachable(url, status, f"HTTP {status}", cache, now, hops)
            return FetchResult(url, ALLOW_ALL, b"", status, now(), current, False, hops, f"HTTP {status}")
    error = f"more than {settings.max_redirects} redirects"
    return FetchResult(url, ALLOW_ALL, b"", None, now(), current, False, settings.max_redirects + 1, error)


def _get(session: requests.Session, url: str, settings: FetchSettings) -> requests.Response:
    return session.get(
        url,
        allow_redirects=False,
        stream=True,
        timeout=(settings.connect_timeout, settings.read_timeout),
        headers={"User-Agent": settings.user_agent, "Accept": "text/plain, */*;q=0.5"},
    )


def _read_capped(response: requests.Response, settings: FetchSettings, started: float) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > settings.max_bytes:
            return b"".join(chunks)[: settings.max_bytes], True
        if time.monotonic() - started > settings.total_timeout:
            raise TimeoutError(f"body not received within {settings.total_timeout:g} s")
    return b"".join(chunks), False


def _unreachable(
    url: str,
    status: int | None,
    error: str,
    cache: RobotsCache | None,
    now: Callable[[], datetime],
    hops: int,
) -> FetchResult:
    at = now()
    copy = cache.cached(host_key(url), at) if cache is not None else None
    if copy is not None and at - copy[1] <= CACHE_GRACE:
        return FetchResult(url, CACHED, copy[0], status, at, None, False, hops, error)
    return FetchResult(url, DISALLOW_ALL, b"", status, at, None, False, hops, error)


def effective_robots(result: FetchResult) -> RobotsTxt:
    """The rules a crawler must follow after this fetch (disallow-all is ``Disallow: /``)."""
    if result.kind == DISALLOW_ALL:
        return RobotsTxt.parse(b"User-agent: *\nDisallow: /\n")
    return RobotsTxt.parse(result.body)


def _source(result: FetchResult) -> str:
    """Where a scan's robots.txt came from: the URL that answered (HTTP after an HTTPS failure),
    or the recorded copy when the site did not answer now."""
    return result.url if result.status is not None else f"{result.url} (recorded copy; no answer now)"


def scan_fetcher(
    state: State,
    *,
    session: requests.Session | None = None,
    settings: FetchSettings = FetchSettings(),
) -> Callable[[str], RobotsTimeline | None]:
    """What ``scan --fetch-robots`` calls per virtual host: fetch, record in history, and
    return the host's timeline of versions, so each request is judged by what was live then.

    ``state`` is the caller's open state database: the caller's ``with`` block closes it and
    reports a damaged file as one line. Returns None when nothing was ever observed (site
    unreachable now, no recorded version): a scan must not accuse crawlers on the strength of
    our own failed fetch.
    """
    import requests

    from botguard.robots.history import RobotsHistory

    history = RobotsHistory(state)
    session = session or requests.Session()

    def fetch(host: str) -> RobotsTimeline | None:
        result = fetch_robots(host, session=session, settings=settings, cache=history)
        if result.status is None and "://" not in host:  # no answer over HTTPS: the site may be HTTP-only
            plain = fetch_robots(
                f"http://{host}/robots.txt", session=session, settings=settings, cache=history
            )
            result = plain if plain.status is not None else result
        history.record_fetch(result)
        timeline = history.timeline(host_key(result.url))
        return replace(timeline, source=_source(result)) if timeline is not None else None

    return fetch
