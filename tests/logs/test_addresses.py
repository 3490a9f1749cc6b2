"""Client addresses leave the logs stage in one spelling; a line whose address is none is malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botguard.logs import read_batches
from botguard.logs.records import ParseStats

from .conftest import parse

#: (logged address, what the batch holds: its one spelling, or None: a malformed line)
ADDRESSES = [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:DB8::1", "2001:db8::1"),
    ("2001:db8:0:0:0:0:0:1", "2001:db8::1"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("::1", "::1"),
    ("0.0.0.0", "0.0.0.0"),
    ("ff02::1", "ff02::1"),
    ("999.1.1.1", None),
    ("1.2.3.4x", None),
    ("not-an-ip", None),
    ("1.2.3.4\x00", None),
    ("\x00", None),
    ("-", None),
]
CUSTOM = '$remote_addr [$time_local] "$request" $status $body_bytes_sent "$http_user_agent"'


def _text(fmt: str, ip: str) -> str:
    if fmt == "json":
        return json.dumps({"remote_addr": ip, "time_iso8601": "2015-05-17T10:05:03+00:00",
                           "request": "GET / HTTP/1.1", "status": 200, "http_user_agent": "curl/8"})  # fmt: skip
    if fmt == CUSTOM:
        return f'{ip} [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "curl/8"'
    return f'{ip} - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'


def _read(tmp_path: Path, fmt: str, lines: list[str]) -> tuple[list[str], ParseStats]:
    path = tmp_path / "access.log"
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    stats, ips = ParseStats(), []
    for batch in read_batches([str(path)], fmt):
        stats.merge(batch.stats)
        ips += batch.requests["ip"].to_list()
    return ips, stats


@pytest.mark.parametrize("fmt", ["combined", "json", CUSTOM], ids=["combined", "json", "custom"])
def test_addresses_spelled_once_and_garbage_malformed(tmp_path: Path, fmt: str) -> None:
    """Every format: addresses in their one spelling, non-addresses counted as ``bad_client_address``."""
    ips, stats = _read(tmp_path, fmt, [_text(fmt, ip) for ip, _ in ADDRESSES])
    assert ips == [kept for _, kept in ADDRESSES if kept is not None]
    bad = sum(1 for _, kept in ADDRESSES if kept is None)
    assert (stats.lines, stats.parsed, stats.malformed) == (len(ADDRESSES), len(ADDRESSES) - bad, bad)
    assert dict(stats.malformed_by_reason) == {"bad_client_address": bad}
    assert [line_no for _, line_no, _ in stats.malformed_examples] == [
        n for n, (_, kept) in enumerate(ADDRESSES, 1) if kept is None
    ]


def test_line_split_path_agrees(tmp_path: Path) -> None:
    """The per-line parser (``parse_batch``, which ``watch`` and odd blocks use) decides the same."""
    rows, stats = parse([_text("combined", ip) for ip, _ in ADDRESSES])
    assert rows["ip"].to_list() == [kept for _, kept in ADDRESSES if kept is not None]
    assert stats.malformed_by_reason == {
        "bad_client_address": sum(1 for _, kept in ADDRESSES if kept is None)
    }


def test_other_reasons_come_first(tmp_path: Path) -> None:
    """A line with a bad time and a bad address keeps the first reason, once."""
    line = _text("combined", "not-an-ip").replace("17/May/2015", "99/Foo/2015")
    _, stats = _read(tmp_path, "combined", [line])
    assert dict(stats.malformed_by_reason) == {"bad_timestamp": 1}


def test_many_distinct_ipv6_addresses(tmp_path: Path) -> None:
    """Thousands of distinct IPv6 spellings in one batch: each client once, in its one spelling."""
    lines = [_text("combined", f"2001:DB8:0:{n:X}:0:0:0:1") for n in range(1, 3001)]
    lines += [_text("combined", f"2001:db8:0:{n:x}::1") for n in range(1, 3001)]
    ips, stats = _read(tmp_path, "combined", lines)
    assert stats.parsed == 6000 and stats.malformed == 0
    assert ips[:3000] == ips[3000:] == [f"2001:db8:0:{n:x}::1" for n in range(1, 3001)]
