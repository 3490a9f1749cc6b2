"""botguard update: fresh ranges from a real HTTP server on loopback; bad answers keep the old copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from botguard.identity import PublishedRanges
from botguard.identity.update import default_fetch, update_ranges
from tests.helpers import serve_http

GPTBOT = json.dumps(
    {"creationTime": "2026-09-01", "prefixes": [{"ipv4Prefix": f"192.0.2.{i * 8}/29"} for i in range(30)]}
)
BODIES = {
    "/gptbot.json": (200, GPTBOT.encode()),  # plausible: 30 networks (bundled: 21)
    "/bingbot.json": (200, b"<html>maintenance</html>"),  # not JSON
    "/applebot.json": (200, json.dumps({"prefixes": [{"ipv4Prefix": "17.0.0.0/8"}]}).encode()),  # 1 of 12
    "/claude.json": (200, json.dumps({"prefixes": [{"ipv4Prefix": "not-a-cidr"}]}).encode()),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = BODIES.get(self.path, (404, b"missing"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    with serve_http(_Handler) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def _sources(base: str) -> dict[str, str]:
    """Every refreshable list points at the loopback server (most get 404)."""
    names = [n for n, e in PublishedRanges.bundled().lists.items() if e.refresh == "google"]
    sources = {n: f"{base}/{n}.json" for n in names}
    sources["perplexitybot"] = f"{base}/claude.json"
    return sources


def test_update_keeps_good_and_rejects_bad(tmp_path: Path, server: str) -> None:
    dest = tmp_path / "ip-ranges"
    results = {
        r.name: r for r in update_ranges(dest, default_fetch(timeout=5), date(2026, 9, 2), _sources(server))
    }
    assert results["gptbot"].updated and results["gptbot"].networks == 30
    assert results["bingbot"].detail == "not Google-style prefixes JSON"
    assert results["applebot"].detail == "only 1 networks (was 12)"
    assert results["perplexitybot"].detail == "invalid prefixes"
    assert results["googlebot"].detail == "fetch failed: HTTP 404"
    assert not any(r.updated for n, r in results.items() if n != "gptbot")

    ranges = PublishedRanges.bundled(dest)
    assert [m.network for m in ranges.match("192.0.2.9", ["gptbot"])] == ["192.0.2.8/29"]
    assert ranges.lists["gptbot"].date == "2026-09-02"
    assert ranges.match("20.171.207.3", ["gptbot"]) == ()  # the fresh list replaced the bundled one
    assert ranges.match("40.77.167.12", ["bingbot"])  # kept lists still answer from the bundle
    assert PublishedRanges.bundled().match("20.171.207.3", ["gptbot"])  # the package is untouched


def test_failed_update_keeps_the_previous_update(tmp_path: Path, server: str) -> None:
    dest = tmp_path / "ip-ranges"
    update_ranges(dest, default_fetch(timeout=5), date(2026, 9, 2), _sources(server))
    BODIES["/gptbot.json"] = (500, b"oops")
    try:
        results = {
            r.name: r
            for r in update_ranges(dest, default_fetch(timeout=5), date(2026, 9, 3), _sources(server))
        }
    finally:
        BODIES["/gptbot.json"] = (200, GPTBOT.encode())
    assert not results["gptbot"].updated and results["gptbot"].networks == 30
    assert PublishedRanges.bundled(dest).lists["gptbot"].date == "2026-09-02"


def test_scan_uses_updated_lists(tmp_path: Path, server: str) -> None:
    """The scan reads refreshed lists from ip-ranges/ beside its state database."""
    from tests.helpers import run_cli

    update_ranges(tmp_path / "ip-ranges", default_fetch(timeout=5), date(2026, 9, 2), _sources(server))
    log = tmp_path / "access.log"
    ua = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
    log.write_text(f'192.0.2.9 - - [01/Sep/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "{ua}"\n')
    r = run_cli("scan", str(log), "--state", str(tmp_path / "state.db"), "--format", "json", "--no-dns")
    assert r.exit_code == 0, r.output
    (client,) = json.loads(r.stdout)["clients"]
    assert client["identity"] == "verified"
