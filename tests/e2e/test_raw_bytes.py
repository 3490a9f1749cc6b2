"""A bot whose agent holds bytes that are not UTF-8, in a log written without escaping, is blocked by
exactly those bytes on real nginx and Apache (not by the U+FFFD a lossy read would make of them)."""

from __future__ import annotations

from tests.deploy.conftest import Site
from tests.e2e.test_addresses import _deploy, _scan, _write_site
from tests.render.servers import CHROME

RAW = b"\xff\xfe crawler \xc3"  # the re-audit's agent
LOSSY = "\ufffd\ufffd crawler \ufffd".encode()  # what a lossy read of it would have blocked


def test_raw_invalid_utf8_agent_is_blocked_by_its_bytes(site: Site) -> None:
    log, robots = _write_site(site, [])
    line = b'203.0.113.9 - - [04/Mar/2024:10:00:0%d +0000] "GET /trap/%d HTTP/1.1" 200 5 "-" "' + RAW + b'"\n'
    log.write_bytes(log.read_bytes() + b"".join(line % (n, n) for n in range(3)))
    assert _scan(site, log, robots, "-o", str(site.tmp / "report.txt")).exit_code == 0
    r = _deploy(site)
    assert r.exit_code == 0, r.output
    srv = site.server
    assert site.eventually(lambda: srv.get(ua=RAW, source="127.0.0.2"), 403) == 403
    assert (srv.get(ua=LOSSY, source="127.0.0.2"), srv.get(ua=CHROME, source="127.0.0.2")) == (200, 200)
