"""botguard's rules only take access away: with its include, every protection of the site holds.

The protected site of ``servers.protected_site`` (a denied directory, Basic auth in the config
and in ``.htaccess``, denied and 127.0.0.1-only ``<Location>``s, a 127.0.0.1-only second site)
runs twice on the real server: without botguard's files and with the rules of
``standard_set()`` (Apache: included at the end of each ``<VirtualHost>``, or once server-wide
before them). Each client, with and without the password, must get exactly the site's own
answer, except 403 where botguard blocks it; ``/robots.txt`` is always the site's answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from botguard.render.apache import ApacheRenderer
from botguard.render.nginx import NginxRenderer
from tests.render.conftest import standard_set
from tests.render.servers import AUTHORIZATION, CHROME, Server, protected_site, running
from tests.render.test_servers import BYTESPIDER, GOOGLEBOT

LAYOUTS = {
    "nginx": ("nginx", "vhost"),
    "apache-vhost": ("apache", "vhost"),
    "apache-server": ("apache", "server"),
}


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    ua: str
    source: str
    blocked: bool  # what standard_set() does to it


CLIENTS = (
    Client("chrome", CHROME, "127.0.0.1", False),
    Client("googlebot", GOOGLEBOT, "127.0.0.1", False),
    Client("other address", CHROME, "203.0.113.3", False),
    Client("blocked agent", BYTESPIDER, "127.0.0.1", True),
    Client("blocked address", CHROME, "203.0.113.2", True),
    Client("allowlisted address with a blocked agent", BYTESPIDER, "203.0.113.9", False),
    Client("allowlisted network inside a blocked one", CHROME, "198.51.100.7", False),
    Client("allowlisted agent", "friendlymonitor-evilbot/2", "127.0.0.1", False),
    Client("allowlisted client pair", "curl/7.81.0", "127.0.0.1", False),
)


def site_answer(kind: str, host: str, path: str, source: str, password: bool) -> int:
    """What the protected site alone answers (the fixture's own spec)."""
    local = 200 if source == "127.0.0.1" else 403
    if host == "local.test":
        return local
    top = path.split("/")[1]
    if kind == "nginx" and top in ("htaccess", "location-denied"):  # Apache-only protections
        return 200
    protected = {
        "denied": 403,
        "location-denied": 403,
        "password": 200 if password else 401,
        "htaccess": 200 if password else 401,
        "location-local": local,
    }
    return protected.get(top, 200)


TARGETS = [("127.0.0.1", "/index.html"), ("127.0.0.1", "/robots.txt")]
TARGETS += [
    ("127.0.0.1", f"/{d}/f.txt")
    for d in ("denied", "password", "htaccess", "location-denied", "location-local")
]
TARGETS += [("local.test", "/index.html"), ("local.test", "/robots.txt")]


def answers(server: Server, client: Client) -> dict[tuple[str, str, bool], int]:
    """The status of every target, with and without the password."""
    out = {}
    for host, path in TARGETS:
        for password in (False, True):
            headers = {"Host": host} | ({"Authorization": AUTHORIZATION} if password else {})
            out[(host, path, password)] = server.get(path, client.ua, client.source, headers)
    return out


@pytest.fixture(scope="module", params=list(LAYOUTS))
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[str, Server, Server]]:
    """(kind, the site without botguard's files, the site with them)."""
    kind, include = LAYOUTS[request.param]
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    empty = {f.name: "" for f in renderer.render(standard_set())}
    files = {f.name: f.text for f in renderer.render(standard_set())}
    with (
        running(kind, empty, protected_site(include)) as bare,
        running(kind, files, protected_site(include)) as full,
    ):
        yield kind, bare, full


@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_the_site_alone_protects_its_paths(servers: tuple[str, Server, Server], client: Client) -> None:
    """Without botguard the fixture refuses what it should (else the next test proves nothing)."""
    kind, bare, _ = servers
    got = answers(bare, client)
    want = {key: site_answer(kind, key[0], key[1], client.source, key[2]) for key in got}
    assert got == want


@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_botguard_only_takes_access_away(servers: tuple[str, Server, Server], client: Client) -> None:
    """With botguard's include every answer is the site's own, or 403 for a blocked client;
    an exempt client (allowlist, /robots.txt) is never let into what the site refuses it."""
    _, bare, full = servers
    alone, together = answers(bare, client), answers(full, client)
    want = {
        key: 403 if client.blocked and key[1] != "/robots.txt" else status for key, status in alone.items()
    }
    assert together == want
