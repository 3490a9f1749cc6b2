"""nginx log_format strings compiled into parsers (GoAccess --log-format style)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from botguard.errors import UsageError
from botguard.logs.formats import resolve_format

from .conftest import one, parse


def test_time_iso8601_request_time_and_upstream_fields():
    """$time_iso8601 is parsed; $request_time and $upstream_* are matched and skipped."""
    fmt = '$remote_addr - $remote_user [$time_iso8601] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time "$http_x_forwarded_for"'
    line = '10.0.0.1 - - [2024-03-10T08:15:00+01:00] "GET /a?b HTTP/2.0" 200 12 "-" "Bot/1" 0.004 0.003 "198.51.100.1, 10.0.0.2"'
    row = one(line, fmt)
    assert row["time"] == datetime(2024, 3, 10, 7, 15, tzinfo=UTC)
    assert (row["ip"], row["target"], row["protocol"], row["bytes"], row["user_agent"]) == (
        "10.0.0.1",
        "/a?b",
        "HTTP/2.0",
        12,
        "Bot/1",
    )


def test_request_parts_and_host():
    """$request_method $request_uri $server_protocol compose the request; $host fills host."""
    fmt = '$host $remote_addr [$time_local] $request_method $request_uri $server_protocol $status $bytes_sent "$http_user_agent"'
    row = one(
        'Shop.Example:443 2001:db8::7 [10/Mar/2024:08:15:00 +0000] POST /cart?id=3 HTTP/1.1 302 0 "UA x"', fmt
    )
    assert (row["host"], row["method"], row["target"], row["request"], row["valid_request"]) == (
        "shop.example",
        "POST",
        "/cart?id=3",
        "POST /cart?id=3 HTTP/1.1",
        True,
    )


def test_uri_and_args():
    """$uri?$args when the format logs them separately; '-' args mean none."""
    fmt = "$remote_addr $msec $request_method $uri $args $status"
    rows, stats = parse(
        ["192.0.2.1 1710058500.123 GET /p q=1 200", "192.0.2.1 1710058500.5 GET /p - 200"], fmt
    )
    assert stats.parsed == 2
    assert rows["target"].to_list() == ["/p?q=1", "/p"]
    assert rows["time"][0] == datetime(2024, 3, 10, 8, 15, 0, 123000, tzinfo=UTC)


def test_braced_variables_and_unknown_ones():
    """${var} works; unknown variables are skipped fields."""
    fmt = '${remote_addr}|$pipe|[$time_local]|"$request"|$status|$whatever_unknown'
    row = one('192.0.2.9|p|[10/Mar/2024:08:15:00 +0000]|"GET / HTTP/1.1"|404|xyz', fmt)
    assert (row["ip"], row["status"], row["target"]) == ("192.0.2.9", 404, "/")


def test_custom_format_malformed_lines_counted():
    """A custom format counts lines that do not fit it, like the built-ins."""
    _rows, stats = parse(
        ["1.2.3.4 [10/Mar/2024:08:15:00 +0000] GET", "nope"], "$remote_addr [$time_local] $request"
    )
    assert (stats.parsed, stats.malformed) == (1, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("just text", "unknown log format 'just text'"),
        ("$", "has no $variables"),
        ("$$ $", "has no $variables"),
        ("$remote_addr$status [$time_local] $request", "$remote_addr and $status must be separated"),
        ('[$time_local] "$request"', "needs $remote_addr"),
        ('$remote_addr "$request"', "needs a time"),
        ("$remote_addr [$time_local] $status", "needs $request"),
        ("apache2", "unknown log format 'apache2'"),
    ],
)
def test_bad_formats_are_usage_errors(text, message):
    """Unparseable templates and unknown names fail with a one-line UsageError."""
    with pytest.raises(UsageError) as info:
        resolve_format(text)
    assert message in str(info.value) and "\n" not in str(info.value)
