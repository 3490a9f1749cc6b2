"""How every line a template reads begins (Lead): detection skips a format none of whose sample
lines begin so, so it must never refuse a line the parse reads, whatever the line holds."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.logs._template import Lead, lead_of, tokenize
from botguard.logs.detect import detect_format
from botguard.logs.formats import FORMATS, resolve_format
from botguard.logs.text import COMBINED, COMMON, VHOST_COMBINED

#: Templates whose leads differ: the built-ins, appended fields, a ':' stop, a literal first,
#: no quote at all (regexes only), a shaped value first (no lead), $time_iso8601 in brackets.
TEMPLATES = [
    COMBINED, COMMON, VHOST_COMBINED,
    COMBINED + ' "$http_x_forwarded_for"',
    '$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
    '[$time_local] $remote_addr "$request" $status "$http_user_agent"',
    "$remote_addr|$msec|$request_method $request_uri|$status",
    '$status $remote_addr [$time_local] "$request"',
    '$remote_addr - - [$time_iso8601] "$request" $status $bytes_sent "$http_referer" "$http_user_agent"',
]  # fmt: skip

_FIELDS = ["1.2.3.4", "::1", "-", "", "www.example.com", "www.example.com:443", "443", "200", "5", "GET",
           "/a?b", "1710058500.123", "17/May/2015:10:05:03 +0000", "2024-03-10T08:15:00+01:00",
           '"GET / HTTP/1.1"', '"-"', '"ua x"', '"a \\"q\\" b"', "[17/May/2015:10:05:03 +0000]"]  # fmt: skip
_JUNK = st.text(alphabet=st.sampled_from(list(' -"\\[]:|\t\x1f\x85\u3000é1a.')), max_size=5)
_SEPARATORS = st.sampled_from([" ", "  ", "|", ":", " [", "] ", "", "\t"])


@st.composite
def _line(draw: st.DrawFn) -> str:
    """A line near some template's shape: fields, separators and junk, or a real line cut
    and spliced."""
    if draw(st.booleans()):
        real = draw(st.sampled_from(_REAL))
        at = draw(st.integers(0, len(real)))
        return real[:at] + draw(_JUNK) + real[at + draw(st.integers(0, 3)) :]
    parts = draw(st.lists(st.tuples(st.sampled_from(_FIELDS) | _JUNK, _SEPARATORS), max_size=12))
    return "".join(field + separator for field, separator in parts)


_REAL = [
    '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5',
    'example.com:80 1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    'example.com 1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 -1 "-" "u\\"a" "x"',
    'www.example.com:443 ::1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5',
    '[17/May/2015:10:05:03 +0000] 1.2.3.4 "GET / HTTP/1.1" 200 "ua"',
    "1.2.3.4|1710058500.123|GET /a?b|200",
    '200 1.2.3.4 [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1"',
    '1.2.3.4 - - [2024-03-10T08:15:00+01:00] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4  - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 +5 "-" "ua"',
    '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" "10.0.0.1, 10.0.0.2"',
]


@settings(max_examples=250, deadline=None)
@given(lines=st.lists(_line(), min_size=1, max_size=8), template=st.sampled_from(TEMPLATES))
def test_a_template_reads_no_line_that_does_not_begin_as_its_lead_says(lines, template):
    """Every line the parse reads (quote plan or regexes) begins as the lead says, so
    most_read bounds what the parse reads, line by line."""
    fmt = resolve_format(template)
    rows, stats = fmt.parse_batch(pl.Series("line", lines, dtype=pl.String), source="x")
    refused = {n for n, line in enumerate(lines, 1) if not fmt.template.lead.begins(line)}
    assert not refused & set(rows["line_no"].to_list()), (template, lines)
    assert stats.parsed <= fmt.most_read(lines)


@pytest.mark.parametrize("line", _REAL)
@pytest.mark.parametrize("template", TEMPLATES)
def test_the_real_lines_each_template_reads_begin_as_its_lead_says(line, template):
    """The same on each well-formed line, one template at a time (the cases the random lines
    above reach only by chance: a template's own lines are read)."""
    fmt = resolve_format(template)
    _, stats = fmt.parse_batch(pl.Series("line", [line], dtype=pl.String), source="x")
    assert stats.parsed <= fmt.most_read([line])


def test_leads_of_templates():
    """The lead stops at the first quote, at a shaped value and at a value before a quote."""
    assert lead_of(tokenize(VHOST_COMBINED)) == Lead("", (" ", " ", " ", " [", "] "))
    assert lead_of(tokenize(TEMPLATES[4])) == Lead("", (":", " ", " - ", " [", "] "))
    assert lead_of(tokenize(TEMPLATES[6])) == Lead("", ("|", "|", " ", "|"))
    assert lead_of(tokenize(TEMPLATES[7])) == Lead()
    assert lead_of(tokenize('"$request" $remote_addr [$time_local]')) == Lead()


def test_combined_lines_are_detected_without_parsing_vhost_combined(monkeypatch):
    """A combined sample parses only combined: common fills fewer columns, and no combined line
    begins as vhost_combined's lines do (its fourth field would run into the time)."""
    calls = []
    real = type(FORMATS["combined"]).parse_batch

    def parse_batch(self, *args, **kwargs):
        calls.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(FORMATS["combined"]), "parse_batch", parse_batch)
    assert detect_format([_REAL[0]] * 9 + [_REAL[0][:-6]]) == "combined"
    assert calls == ["combined"]
    calls.clear()
    assert detect_format([_REAL[2]] * 3) == "vhost_combined"
    assert "vhost_combined" in calls
