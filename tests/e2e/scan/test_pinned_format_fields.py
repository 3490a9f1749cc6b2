"""A format the user pinned that reads every field of its lines is the user's word, whatever
the quoted fields after the status and bytes hold (found by a hostile review of the header-loss
check: it took an nginx log_format's "$http_host" "$upstream_addr" for a referer and agent)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli

#: nginx: the upstream a request went to, after the host asked for; no referer or agent logged.
UPSTREAM_FORMAT = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_host" "$upstream_addr"'
UPSTREAM_LINE = (
    '203.0.113.{n} - - [03/Mar/2024:23:00:{s:02d} +0000] "GET /page/{n} HTTP/1.1" 200 {b} '
    '"www.example.com" "10.0.0.{u}:8080"\n'
)


def test_a_pinned_format_reading_every_field_is_not_refused(tmp_path: Path) -> None:
    log = tmp_path / "upstream.log"
    lines = (UPSTREAM_LINE.format(n=n % 50, s=n % 60, b=1000 + n, u=n % 4) for n in range(300))
    log.write_text("".join(lines), encoding="utf-8")
    done = run_cli(
        "scan", str(log), "--no-save", "--no-dns", "--no-model", "--format", "json",
        "--log-format", UPSTREAM_FORMAT,
    )  # fmt: skip
    assert (done.exit_code, done.stderr) == (0, "")
    summary = json.loads(done.stdout)["summary"]
    assert (summary["parsed"], summary["malformed"], summary["clients"]) == (300, 0, 50)
