"""The rendered files in real nginx and Apache: 403 / 429 / 200 as the decisions say."""

from __future__ import annotations

import pytest

from botguard.decide import DecisionSet
from botguard.render.apache import ApacheRenderer
from botguard.render.nginx import NginxRenderer
from tests.render.servers import CHROME, protected_site, running

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BYTESPIDER = "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)"


def _files(kind: str, decisions: DecisionSet) -> dict[str, str]:
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    return {f.name: f.text for f in renderer.render(decisions)}


@pytest.fixture(params=["nginx", "apache", "apache-vhost"], scope="module")
def server(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """nginx; Apache including the file server-wide; Apache including it at the end of a
    <VirtualHost> of a site with its own protections (tests/render/test_site_authz.py)."""
    from tests.render.conftest import standard_set

    kind, _, layout = request.param.partition("-")
    site = protected_site(layout) if layout else None
    with running(kind, _files(kind, standard_set()), site) as srv:
        yield srv


CASES = [
    # (description, path, UA, source address, expected)
    ("chrome passes", "/index.html", CHROME, "127.0.0.1", 200),
    ("real googlebot passes", "/index.html", GOOGLEBOT, "127.0.0.1", 200),
    ("blocked crawler token", "/index.html", BYTESPIDER, "127.0.0.1", 403),
    ("token match is case-insensitive", "/index.html", "mozilla/5.0 gptbot/1.2", "127.0.0.1", 403),
    ("blocked crawler may read robots.txt", "/robots.txt", BYTESPIDER, "127.0.0.1", 200),
    ("blocked IP may read robots.txt", "/robots.txt", CHROME, "203.0.113.2", 200),
    # the path is case-sensitive (RFC 9309 names /robots.txt): another spelling is another resource
    ("blocked crawler: no exemption for /ROBOTS.TXT", "/ROBOTS.TXT", BYTESPIDER, "127.0.0.1", 403),
    ("blocked IP: no exemption for /Robots.txt", "/Robots.txt", CHROME, "203.0.113.2", 403),
    ("exact UA blocked", "/index.html", "exactbot/1.0", "127.0.0.1", 403),
    ("exact UA is not a substring rule", "/index.html", "ExactBot/1.0 extra", "127.0.0.1", 200),
    ("blocked IP", "/index.html", CHROME, "203.0.113.2", 403),
    ("blocked CIDR is overridden by the allowlisted CIDR", "/index.html", CHROME, "198.51.100.7", 200),
    ("allowlisted IP beats its IP block", "/index.html", CHROME, "203.0.113.9", 200),
    ("allowlisted IP beats a UA block", "/index.html", BYTESPIDER, "203.0.113.9", 200),
    (
        "allowlisted UA substring beats a UA block",
        "/index.html",
        "friendlymonitor-evilbot/2",
        "127.0.0.1",
        200,
    ),
    ("allowlisted client pair passes", "/index.html", "curl/7.81.0", "127.0.0.1", 200),
    ("same UA from another IP is blocked", "/index.html", "curl/7.81.0", "127.0.0.3", 403),
    ("other curl version from the allowed IP is blocked", "/index.html", "curl/8.0", "127.0.0.1", 403),
    ("no user agent passes", "/index.html", None, "127.0.0.1", 200),
]


@pytest.mark.parametrize(("what", "path", "ua", "source", "status"), CASES, ids=[c[0] for c in CASES])
def test_status(server, what: str, path: str, ua: str | None, source: str, status: int) -> None:  # type: ignore[no-untyped-def]
    """Each request gets the status its decisions call for."""
    assert server.get(path, ua, source) == status, what


def test_nginx_throttle_gives_429() -> None:
    """A throttled crawler gets 429 past the burst; Chrome never does; robots.txt is exempt."""
    from tests.render.conftest import standard_set

    with running("nginx", _files("nginx", standard_set())) as srv:
        ahrefs = [srv.get(ua="Mozilla/5.0 (compatible; AhrefsBot/7.0)") for _ in range(12)]
        by_ip = [srv.get(source="203.0.113.5") for _ in range(12)]
        chrome = [srv.get() for _ in range(12)]
        robots = [srv.get("/robots.txt", ua="AhrefsBot") for _ in range(12)]
    assert ahrefs[:5] == [200] * 5 and 429 in ahrefs, ahrefs
    assert by_ip[:5] == [200] * 5 and 429 in by_ip, by_ip
    assert chrome == [200] * 12
    assert robots == [200] * 12


def test_empty_decision_set_is_valid_and_blocks_nothing() -> None:
    """No decisions: both servers accept the files and serve everyone."""
    for kind in ("nginx", "apache"):
        with running(kind, _files(kind, DecisionSet())) as srv:
            assert srv.get(ua=BYTESPIDER) == 200
            assert srv.get(source="203.0.113.2") == 200
