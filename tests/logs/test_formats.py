"""Spec tables: exact answers for each built-in format and the request-line rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from .conftest import one, parse

T = "[17/May/2015:10:05:03 +0000]"
WHEN = datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)


def combined(request: str, ua: str = "Mozilla/5.0", status: str = "200", ip: str = "1.2.3.4") -> str:
    return f'{ip} - - {T} "{request}" {status} 512 "-" "{ua}"'


def test_combined_all_columns():
    """A combined line fills every column it logs; host stays null (not logged)."""
    row = one(
        '83.149.9.216 - bob [17/May/2015:10:05:03 +0000] "GET /a/b.png?x=1&y=2 HTTP/1.1" 200 203023 "http://ref.example/" "Mozilla/5.0 (X11)"'
    )
    assert row == {
        "ip": "83.149.9.216",
        "time": WHEN,
        "method": "GET",
        "target": "/a/b.png?x=1&y=2",
        "protocol": "HTTP/1.1",
        "request": "GET /a/b.png?x=1&y=2 HTTP/1.1",
        "valid_request": True,
        "status": 200,
        "bytes": 203023,
        "referer": "http://ref.example/",
        "user_agent": "Mozilla/5.0 (X11)",
        "host": None,
        "source": "t.log",
        "line_no": 1,
    }


def test_common_has_no_referer_or_user_agent():
    """The common format logs neither referer nor user agent: both null, not empty."""
    row = one('1.2.3.4 - theuser [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301 368', "common")
    assert (row["status"], row["bytes"], row["referer"], row["user_agent"]) == (301, 368, None, None)
    assert row["time"] == datetime(2012, 2, 10, 21, 42, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "prefix, host",
    [
        ("www.example.com:80", "www.example.com"),
        ("WWW.Example.com", "www.example.com"),
        ("[2001:db8::1]:443", "[2001:db8::1]"),
    ],
)
def test_vhost_combined_host_without_port(prefix, host):
    """vhost_combined's %v:%p becomes the host column, lower-cased and without the port."""
    row = one(f"{prefix} {combined('GET / HTTP/1.1')}", "vhost_combined")
    assert (row["host"], row["ip"]) == (host, "1.2.3.4")


@pytest.mark.parametrize(
    "offset, expected",
    [
        ("+0000", datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)),
        ("+0200", datetime(2015, 5, 17, 8, 5, 3, tzinfo=UTC)),
        ("-0730", datetime(2015, 5, 17, 17, 35, 3, tzinfo=UTC)),
        ("+1400", datetime(2015, 5, 16, 20, 5, 3, tzinfo=UTC)),
    ],
)
def test_time_zones_convert_to_utc(offset, expected):
    """Any logged offset is converted to UTC."""
    row = one(f'1.2.3.4 - - [17/May/2015:10:05:03 {offset}] "GET / HTTP/1.1" 200 1 "-" "ua"')
    assert row["time"] == expected


@pytest.mark.parametrize(
    "ip, kept",
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:DB8::1", "2001:db8::1"),
    ],
)
def test_ipv4_and_ipv6_clients(ip, kept):
    """Client addresses are kept, IPv4 or IPv6, in their one spelling (see tests/logs/test_addresses.py)."""
    assert one(combined("GET / HTTP/1.1", ip=ip))["ip"] == kept


@pytest.mark.parametrize(
    "request_line, method, target, protocol",
    [
        ("GET / HTTP/1.1", "GET", "/", "HTTP/1.1"),
        ("GET /search?q=a+b&page=2 HTTP/1.1", "GET", "/search?q=a+b&page=2", "HTTP/1.1"),
        ("POST /api HTTP/2.0", "POST", "/api", "HTTP/2.0"),
        ("GET /old", "GET", "/old", None),  # HTTP/0.9
        ("OPTIONS * HTTP/1.1", "OPTIONS", "*", "HTTP/1.1"),
        ("CONNECT example.com:443 HTTP/1.1", "CONNECT", "example.com:443", "HTTP/1.1"),
        ("PROPFIND /dav/ HTTP/1.1", "PROPFIND", "/dav/", "HTTP/1.1"),
        ("GET http://example.com/path?q=1 HTTP/1.1", "GET", "/path?q=1", "HTTP/1.1"),
        ("GET https://example.com HTTP/1.1", "GET", "/", "HTTP/1.1"),
        ("GET http://example.com?x HTTP/1.1", "GET", "/?x", "HTTP/1.1"),
    ],
)
def test_valid_request_lines(request_line, method, target, protocol):
    """HTTP request lines split into method, target (path?query) and protocol."""
    row = one(combined(request_line))
    assert (row["method"], row["target"], row["protocol"], row["valid_request"]) == (
        method,
        target,
        protocol,
        True,
    )
    assert row["request"] == request_line


def test_absolute_form_fills_host():
    """An absolute-form target gives the host when the format logs none (lower-cased, no port)."""
    row = one(combined("GET http://user@Example.COM:8080/p HTTP/1.1"))
    assert (row["host"], row["target"]) == ("example.com", "/p")


def test_absolute_form_does_not_override_logged_host():
    """A logged virtual host wins over the host inside an absolute-form target."""
    row = one("site.example " + combined("GET http://other.example/p HTTP/1.1"), "vhost_combined")
    assert (row["host"], row["target"]) == ("site.example", "/p")


@pytest.mark.parametrize(
    "request_line",
    [
        r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "",
        "SSH-2.0-Go",
        "-",
        "GET",
        "get / HTTP/1.1",
        "GET index.html HTTP/1.1",
        "GET / HTTP/1.1 extra",
        "GET / FTP/1.0",
        r"\x05\x01\x00",
    ],
)
def test_invalid_requests_are_rows_not_malformed(request_line):
    """A well-formed line whose request is not HTTP is a row with valid_request False."""
    rows, stats = parse([combined(request_line, status="400")])
    assert (stats.parsed, stats.malformed, stats.invalid_requests) == (1, 0, 1)
    row = rows.row(0, named=True)
    assert (row["method"], row["target"], row["protocol"], row["valid_request"]) == (None, None, None, False)
    assert (row["request"], row["status"]) == (request_line, 400)


def test_dash_conventions():
    """'-' user agent and referer become "", '-' bytes becomes 0, '-' status is unknown (null)."""
    row = one('1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" - - "-" "-"')
    assert (row["user_agent"], row["referer"], row["bytes"], row["status"]) == ("", "", 0, None)


@pytest.mark.parametrize(
    "logged_ua",
    [
        r"Mozilla/5.0 \"quoted\" (X11)",
        r"ends with backslash \\",
        r"\"",
        r"a \\\" b",
    ],
)
def test_escaped_quotes_inside_quoted_fields(logged_ua):
    """Apache/nginx backslash escapes inside quotes parse; the value is kept exactly as logged."""
    row = one(combined("GET / HTTP/1.1", ua=logged_ua))
    assert row["user_agent"] == logged_ua
    assert row["target"] == "/"


def test_escaped_quote_in_request():
    """An escaped quote inside the request field does not end it."""
    row = one(combined(r"GET /a\"b HTTP/1.1"))
    assert (row["target"], row["valid_request"]) == (r"/a\"b", True)


#: (referer, user agent) as a writer that does not escape quotes logs them (some CDNs and
#: proxies, hand-made logs), each read back as logged.
BARE_QUOTES = [
    ("-", 'Mozilla/5.0 (compatible; "Scrapy"/2.11; +https://scrapy.org)'),
    ("-", '"curl/8.5.0"'),
    ('https://www.google.com/search?q="blue widgets"', "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3)"),
    ('https://a.example/?q="x"', 'Bot "1" x'),
    ('https://a.example/?q=" a "', "Bot/1"),
    ('say "hi"', '"'),
]


@pytest.mark.parametrize(("referer", "ua"), BARE_QUOTES)
@pytest.mark.parametrize("fmt", ["combined", "vhost_combined"])
def test_bare_quotes_inside_referer_or_agent_parse(referer, ua, fmt):
    """Unescaped quotes inside the referer or the agent: the line is read, not malformed; the
    referer ends at the quote a ``" "`` follows, the agent at the line's last quote."""
    line = f'1.2.3.4 - - {T} "GET /p HTTP/1.1" 200 512 "{referer}" "{ua}"'
    row = one(("h.example " if fmt == "vhost_combined" else "") + line, fmt)
    logged = "" if referer == "-" else referer
    assert (row["referer"], row["user_agent"], row["target"], row["status"]) == (logged, ua, "/p", 200)


def test_an_escaped_quote_never_ends_a_value_read_leniently():
    """A backslash-escaped quote is part of the value for the lenient rule too: a line whose
    only possible end of agent is an escaped quote stays malformed."""
    _, stats = parse([combined("GET / HTTP/1.1", ua=r"a \"b\" c") + "x"])
    assert (stats.parsed, stats.malformed) == (0, 1)


def test_bare_quotes_do_not_change_lines_read_strictly():
    """A line the strict rules read keeps their split (appended quoted fields stay appended)."""
    row = one(combined("GET / HTTP/1.1", ua="a") + ' "xff, 10.0.0.1" "b"')
    assert (row["user_agent"], row["referer"]) == ("a", "")


def test_hex_escapes_stay_as_logged():
    """nginx's \\xHH escapes are not decoded."""
    row = one(combined(r"GET /caf\xC3\xA9 HTTP/1.1", ua=r"bot\x22x"))
    assert (row["target"], row["user_agent"]) == (r"/caf\xC3\xA9", r"bot\x22x")


def test_trailing_extra_fields_are_ignored():
    """Servers append fields to combined ($request_time, X-Forwarded-For): still combined."""
    row = one(combined("GET / HTTP/1.1") + ' "203.0.113.9, 10.0.0.1" 0.004 -')
    assert (row["user_agent"], row["status"]) == ("Mozilla/5.0", 200)


def test_unicode_is_kept():
    """Non-ASCII (already valid UTF-8) text survives."""
    assert one(combined("GET /ü HTTP/1.1", ua="Bot/1 (ü)"))["user_agent"] == "Bot/1 (ü)"


def test_line_numbers_and_source():
    """Rows carry their 1-based line number within the file and the file name."""
    rows, stats = parse(
        [combined("GET /1 HTTP/1.1"), "junk", combined("GET /3 HTTP/1.1")], source="x/access.log"
    )
    assert rows["line_no"].to_list() == [1, 3]
    assert rows["source"].to_list() == ["x/access.log"] * 2
    assert stats.malformed_examples == [("x/access.log", 2, "junk")]


def _regex_only(name: str):
    """The same format with its quote-split fast path switched off (regex path only)."""
    from botguard.logs.formats import FORMATS
    from botguard.logs.text import TemplateFormat

    fmt = TemplateFormat(name, FORMATS[name].template_text, "regex only")
    object.__setattr__(fmt, "plan", None)
    return fmt


@pytest.mark.parametrize("name", ["combined", "common", "vhost_combined"])
def test_quote_split_fast_path_agrees_with_regex(name):
    """The quote-split fast path and the regex path give identical rows and counts."""
    import polars as pl

    from botguard.logs.formats import FORMATS

    from .conftest import ELASTIC, FIXTURES, log_bytes

    lines = (FIXTURES / "garbage.log").read_bytes().decode("utf-8", "replace").split("\n")
    lines += log_bytes(ELASTIC).decode("utf-8", "replace").splitlines()
    lines += [combined(r) for r in ("GET / HTTP/1.1", "", "SSH-2.0-Go", r"GET /a\"b HTTP/1.1", r"x\\")]
    lines += [combined("GET / HTTP/1.1", ua=ua) for ua in (r"a\\", r"a\"", "", r"\\\"", "a b")]
    lines += ["h.example " + line for line in lines[-10:]] + [line + ' "x" 1' for line in lines[-10:]]
    series = pl.Series(lines, dtype=pl.String)
    fast_rows, fast_stats = FORMATS[name].parse_batch(series, source="s")
    slow_rows, slow_stats = _regex_only(name).parse_batch(series, source="s")
    assert fast_rows.equals(slow_rows)
    assert (fast_stats.parsed, fast_stats.malformed_by_reason) == (
        slow_stats.parsed,
        slow_stats.malformed_by_reason,
    )
    assert fast_stats.parsed > 0


_NEAR = st.text(alphabet='ab1 "\\[]-:/\r\x1f\x00é', max_size=40)


@pytest.mark.parametrize("name", ["combined", "common", "vhost_combined"])
@settings(max_examples=80, deadline=None)
@given(parts=st.lists(st.tuples(_NEAR, _NEAR, _NEAR, _NEAR), min_size=1, max_size=5))
def test_fuzz_fast_path_agrees_with_regex(name, parts):
    """Near-miss lines (stray quotes, backslashes, CRs) get the same answer from both paths."""
    import polars as pl

    from botguard.logs.formats import FORMATS

    lines = [
        ("h.example " if name == "vhost_combined" else "")
        + f'1.2.3.4 - - {T} "GET /{a} HTTP/1.1" 200 5 "{b}" "{c}"{d}'
        for a, b, c, d in parts
    ]
    series = pl.Series(lines, dtype=pl.String)
    fast = FORMATS[name].parse_batch(series, source="s")
    slow = _regex_only(name).parse_batch(series, source="s")
    assert fast[0].equals(slow[0])
    assert fast[1] == slow[1]


@pytest.mark.parametrize("ua", ["-", "curl/8", "-x", "--"])
@pytest.mark.parametrize("referer", ["-", "", "https://a.example/", "-x"])
def test_dash_headers_alike_quoted_or_not_by_either_path(ua, referer):
    """A template whose user agent is logged unquoted and referer quoted: the quote plan turns
    the quoted "-" (and an empty field) into "" itself, the unquoted one is left to the typing
    step; both give what the regex path gives, and "-" is "" wherever it was logged."""
    import polars as pl

    from botguard.logs.text import TemplateFormat

    template = (
        '$remote_addr $http_user_agent [$time_local] "$request" $status $body_bytes_sent "$http_referer"'
    )
    fast = TemplateFormat("custom", template)
    slow = TemplateFormat("custom", template)
    object.__setattr__(slow, "plan", None)
    assert fast.plan is not None and fast.plan.dashed == ("referer",)
    line = f'1.2.3.4 {ua} {T} "GET / HTTP/1.1" 200 5 "{referer}"'
    block = f"{line}\n{line}\n".encode()
    by_block, _ = fast.parse_block(block, source="s")
    by_lines, _ = fast.parse_batch(pl.Series([line, line]), source="s")
    by_regex, _ = slow.parse_batch(pl.Series([line, line]), source="s")
    assert by_block.equals(by_regex) and by_lines.equals(by_regex)
    expected = ("" if ua == "-" else ua, "" if referer == "-" else referer)
    assert by_block.select("user_agent", "referer").row(0) == expected


def _valid_by_the_rule(request: str) -> bool:
    """request_validity's rule word by word, in Python's re: METHOD TARGET [HTTP/x.y], the
    target in origin form, ``*``, absolute form or (CONNECT) any authority, nothing after."""
    import re

    words = request.split(" ")
    if len(words) < 2 or len(words) > 3:
        return False
    method, target, protocol = words[0], words[1], words[2] if len(words) == 3 else None
    target_ok = (
        target.startswith("/")
        or target == "*"
        or re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", target) is not None
        or (method == "CONNECT" and target != "")
    )
    return (
        re.fullmatch(r"[A-Z][A-Z_-]{0,31}", method) is not None
        and target_ok
        and (protocol is None or re.fullmatch(r"HTTP/[0-9](?:\.[0-9])?", protocol) is not None)
    )


_FREE_WORD = st.text(alphabet="AZaz09+.-_:/*H", max_size=6)
_METHOD = st.one_of(st.sampled_from(["GET", "CONNECT", "M-_", "get", "G1", "", "A" * 33]), _FREE_WORD)
_TARGET = st.one_of(
    st.sampled_from(["/", "/a", "*", "**", "*/", "", "a", "http://h/p", "h+t.p-s://x", "1a://x", "a:/"]),
    _FREE_WORD,
)
_PROTOCOL = st.one_of(
    st.sampled_from(["HTTP/1.1", "HTTP/2", "HTTP/1.", "HTTP/10", "HTTP/1.1x", "http/1.1", "xHTTP/1.1", ""]),
    _FREE_WORD,
)


@settings(max_examples=300, deadline=None)
@example(method="GET", target="**", protocol=None, extra=None)
@example(method="GET", target="*/", protocol="HTTP/1.1", extra=None)
@example(method="OPTIONS", target="*", protocol="HTTP/1.1", extra=None)
@example(method="CONNECT", target="", protocol="HTTP/1.1", extra=None)
@example(method="CONNECT", target="h:443", protocol=None, extra=None)
@example(method="GET", target="1a://x", protocol=None, extra=None)
@example(method="GET", target="/", protocol="HTTP/1.1x", extra=None)
@example(method="GET", target="/", protocol="xHTTP/1.1", extra=None)
@given(
    method=_METHOD,
    target=st.one_of(st.none(), _TARGET),
    protocol=st.one_of(st.none(), _PROTOCOL),
    extra=st.one_of(st.none(), _FREE_WORD),
)
def test_request_validity_is_the_rule_word_by_word(method, target, protocol, extra):
    """Whether a request line is HTTP follows the rule (method, target form, protocol, no more
    words) for any words: the typing step tests each word with as few patterns as it can."""
    request = " ".join(word for word in (method, target, protocol, extra) if word is not None)
    rows, stats = parse([combined(request)])
    assert stats.parsed == 1
    assert rows["valid_request"][0] == _valid_by_the_rule(request), request
