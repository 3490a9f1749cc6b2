"""JSON-lines logs: nginx escape=json keys, custom field names, Caddy and Traefik records."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from botguard.errors import UsageError
from botguard.logs import read_batches
from botguard.logs.formats import FORMATS
from botguard.logs.jsonl import JsonFormat
from tests.helpers import gpl_data

from .conftest import FIXTURES


def read(path, **kwargs):
    batches = list(read_batches([str(path)], **kwargs))
    return pl.concat([b.requests for b in batches]), batches


def test_nginx_escape_json_lines():
    """Values as strings or numbers, time_iso8601 or time_local, request or its parts."""
    rows, batches = read(FIXTURES / "nginx.json.log", log_format="json")
    stats = batches[0].stats
    assert (stats.lines, stats.parsed, stats.malformed, stats.invalid_requests) == (7, 3, 4, 1)
    assert dict(stats.malformed_by_reason) == {"invalid_json": 2, "bad_timestamp": 1, "empty": 1}
    first, tls, parts = rows.iter_rows(named=True)
    assert first["time"] == datetime(2024, 3, 10, 7, 15, tzinfo=UTC)
    assert (first["target"], first["status"], first["bytes"], first["host"], first["referer"]) == (
        "/feed.xml?x=1",
        200,
        1043,
        "blog.example",
        "",
    )
    assert (tls["ip"], tls["valid_request"], tls["status"], tls["user_agent"]) == (
        "2001:db8::5",
        False,
        400,
        "",
    )
    assert tls["time"] == datetime(2024, 3, 10, 7, 15, 1, tzinfo=UTC)
    assert (parts["method"], parts["target"], parts["request"]) == (
        "POST",
        "/wp-login.php",
        "POST /wp-login.php HTTP/1.1",
    )
    assert parts["user_agent"] == 'Mozilla/5.0 "quoted"'  # JSON escapes are decoded by JSON itself


def test_json_fields_override_key_names(tmp_path):
    """json_fields maps our column to the site's key; other columns keep their defaults."""
    path = tmp_path / "a.log"
    path.write_text(
        '{"client": "192.0.2.1", "when": "2024-01-01T00:00:00Z", "req": "GET /x HTTP/1.1", "status": 301, "agent": "Bot/1"}\n'
    )
    fields = {"ip": "client", "time": "when", "request": "req", "user_agent": "agent"}
    rows, _ = read(path, log_format="json", json_fields=fields)
    assert rows.select("ip", "target", "status", "user_agent").row(0) == ("192.0.2.1", "/x", 301, "Bot/1")
    rows, _ = read(path, json_fields=fields)  # detection honours json_fields too
    assert rows.height == 1


def test_unknown_json_field_is_a_usage_error(tmp_path):
    """A json_fields key that is not one of our columns is reported, not ignored."""
    with pytest.raises(UsageError, match="unknown JSON field mapping for agent"):
        read_batches([str(tmp_path)], "json", json_fields={"agent": "ua"})


def test_caddy_nested_records():
    """Caddy's nested request object and header lists are read by the caddy format."""
    line = (
        '{"level":"info","ts":1703373474.8155608,"msg":"handled request","request":{"remote_ip":"1.2.3.4","client_ip":"1.2.3.4",'
        '"proto":"HTTP/2.0","method":"GET","host":"Example.com","uri":"/beta/?a=1","headers":{"User-Agent":["Firefox/121.0"]}},'
        '"size":3609,"status":200}'
    )
    rows, stats = FORMATS["caddy"].parse_batch(pl.Series([line]), source="c.log")
    assert stats.parsed == 1
    row = rows.row(0, named=True)
    assert (
        row["ip"],
        row["method"],
        row["target"],
        row["protocol"],
        row["host"],
        row["user_agent"],
        row["bytes"],
    ) == (
        "1.2.3.4",
        "GET",
        "/beta/?a=1",
        "HTTP/2.0",
        "example.com",
        "Firefox/121.0",
        3609,
    )
    assert row["time"] == datetime(2023, 12, 23, 23, 17, 54, 815561, tzinfo=UTC)


def test_json_fast_and_fallback_paths_agree():
    """The vectorised decoder and the per-line fallback (used when a batch holds bad JSON) agree."""
    lines = (FIXTURES / "nginx.json.log").read_text().splitlines()
    good = [line for line in lines if line.endswith("}") and "yesterday" not in line]
    fmt = FORMATS["json"]
    fast, _ = fmt.parse_batch(pl.Series(good), source="x")
    slow, _ = fmt.parse_batch(pl.Series(good + ["{bad json}"]), source="x")
    assert fast.equals(slow)


def test_shared_samples_detected(tmp_path):
    """The matomo nginx_json, caddy and traefik samples are detected and fully parsed."""
    samples = gpl_data("access-logs", "matomo-format-samples")
    for name, expected in [("nginx_json.log", 2), ("caddy_json.log", 3), ("traefik_json.log", 1)]:
        rows, batches = read(samples / name)
        assert (rows.height, batches[0].stats.malformed) == (expected, 0), name
        assert rows["ip"].null_count() == 0 and rows["valid_request"].all(), name


def test_custom_json_format_object():
    """A JsonFormat built in code works like the registered ones (extension path)."""
    fmt = JsonFormat("mine", {"ip": ("c",), "time": ("t",), "request": ("r",)})
    rows, stats = fmt.parse_batch(
        pl.Series(['{"c": "::1", "t": 1700000000, "r": "GET / HTTP/1.0"}']), source="m"
    )
    assert (stats.parsed, rows["time"][0]) == (1, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))
