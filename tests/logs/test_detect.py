"""Format detection from the first lines of a file."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.errors import InputError
from botguard.logs import read_batches
from botguard.logs.detect import detect_format, header_loss
from botguard.logs.formats import FORMATS

COMBINED = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"'
COMMON = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5'
VHOST = "example.com:80 " + COMBINED
JSON = '{"remote_addr": "1.2.3.4", "time_local": "17/May/2015:10:05:03 +0000", "request": "GET / HTTP/1.1", "status": 200}'
CADDY = (
    '{"ts": 1703373474.8, "request": {"client_ip": "1.2.3.4", "method": "GET", "uri": "/"}, "status": 200}'
)


@pytest.mark.parametrize(
    "lines, expected",
    [
        ([COMBINED] * 3, "combined"),
        ([COMMON] * 3, "common"),
        ([VHOST] * 3, "vhost_combined"),
        (["example.com " + COMBINED], "vhost_combined"),
        ([JSON] * 2, "json"),
        ([CADDY], "caddy"),
        (["# comment", COMBINED, "garbage", COMBINED], "combined"),
        ([COMBINED] * 19 + [COMMON], "combined"),
        ([COMBINED, COMMON, COMMON], "common"),
        ([COMBINED + ' "-" 0.003'], "combined"),
    ],
)
def test_detects_format(lines, expected):
    """The format that reads most lines wins; richer formats win ties."""
    assert detect_format(lines) == expected


def test_unrecognised_file_is_an_input_error(tmp_path):
    """A file no format reads fails with the file name and the way out (--log-format)."""
    path = tmp_path / "error.log"
    path.write_text("[Tue Jul 22 06:48:30 2008] [error] [client 198.51.100.86] File does not exist\n")
    with pytest.raises(InputError, match=r"pass --log-format .* in .*error\.log"):
        list(read_batches([str(path)]))


def test_detection_is_per_file(tmp_path):
    """Each file gets its own detection: a combined and a JSON file in one scan."""
    (tmp_path / "a.log").write_text(COMBINED + "\n")
    (tmp_path / "b.log").write_text(JSON + "\n")
    batches = list(read_batches([str(tmp_path / "a.log"), str(tmp_path / "b.log")]))
    assert [b.requests.height for b in batches] == [1, 1]
    assert batches[1].requests["user_agent"][0] is None  # the JSON line logs no UA


def _cdn_line(n: int, headers: tuple[str, str]) -> str:
    referer, agent = headers
    return (
        f'198.51.100.{n % 200} - - [04/Mar/2024:10:{n % 60:02}:00 +0000] "GET /products/{n} HTTP/1.1" '
        f'200 {5000 + n} "{referer}" "{agent}"'
    )


CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36"
#: (referer, agent) of real-looking logs of four writers: nginx/Apache (quotes escaped), and
#: writers that leave a quote inside the agent, inside the referer, or either, bare.
QUOTED_LOGS = {
    "escaped": lambda n: (f'https://www.google.com/search?q=\\"w{n}\\"', f'{CHROME} \\"v{n}\\"'),
    "agent": lambda n: ("-", f'Mozilla/5.0 (compatible; "Scanner{n}"/1.0; +https://s.example)'),
    "referer": lambda n: (f'https://www.google.com/search?q="widget {n}"', CHROME),
    "mixed": lambda n: (f'https://a.example/?q="{n}"' if n % 3 else "-", f'"{CHROME}"' if n % 2 else CHROME),
}


@pytest.mark.parametrize("kind", QUOTED_LOGS)
def test_bare_quotes_in_agents_or_referers_read_as_combined(tmp_path, kind):
    """Detection keeps combined for a log whose writer leaves quotes inside the agent or the
    referer unescaped (read as common, every agent and referer was lost); nothing is malformed
    and every referer and agent is the logged one."""
    headers = [QUOTED_LOGS[kind](n) for n in range(300)]
    path = tmp_path / "access.log"
    path.write_text("".join(_cdn_line(n, pair) + "\n" for n, pair in enumerate(headers)))
    batches = list(read_batches([str(path)]))
    rows = batches[0].requests
    assert (rows.height, sum(b.stats.malformed for b in batches)) == (300, 0)
    assert not any(b.stats.warnings for b in batches)
    logged = [("" if referer == "-" else referer, agent) for referer, agent in headers]
    assert list(rows.select("referer", "user_agent").iter_rows()) == logged


def test_header_loss_names_what_common_drops_and_what_reads_it():
    """common on lines carrying the pair loses both headers; combined reads them; a file whose
    lines mostly carry no pair draws nothing."""
    lines = [_cdn_line(n, QUOTED_LOGS["agent"](n)) for n in range(10)]
    loss = header_loss(FORMATS["common"], lines)
    assert loss is not None
    assert (loss.missing, loss.carried, loss.sampled, loss.better, loss.better_reads) == (
        ("referer", "user_agent"),
        10,
        10,
        "combined",
        10,
    )
    assert header_loss(FORMATS["combined"], lines) is None
    assert header_loss(FORMATS["common"], lines[:5] + [COMMON] * 5) is None  # half: not most
    assert header_loss(FORMATS["common"], lines[:6] + [COMMON] * 4) is not None


_JSON_ISH = st.text(alphabet=st.sampled_from(list(' \t\x0b\x0c\x1c\x85\u3000{}[]":,ab1/')), max_size=30)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_JSON_ISH | st.sampled_from([JSON, CADDY, " " + JSON + "\t", COMBINED]), max_size=6))
def test_reads_none_only_when_the_parse_reads_none(lines):
    """Detection skips a JSON format's parse when it says it reads none of the lines: that must
    never hide a line the parse would read (leading whitespace of any kind included)."""
    for name in ("json", "caddy"):
        fmt = FORMATS[name]
        if fmt.reads_none(lines):
            rows, stats = fmt.parse_batch(pl.Series("line", lines, dtype=pl.String), source="x")
            assert (rows.height, stats.parsed) == (0, 0), lines


def test_detection_of_a_text_log_does_not_parse_as_json(monkeypatch):
    """A combined sample is detected without a JSON format's parse (the ~10 ms it costs)."""
    calls = []
    for name in ("json", "caddy"):
        fmt = FORMATS[name]
        monkeypatch.setattr(type(fmt), "parse_batch", lambda self, *a, **k: calls.append(self.name))
    assert detect_format([COMBINED] * 3) == "combined"
    assert calls == []


def _detect_by_scoring_all(lines: list[str]) -> str | None:
    """Detection as it was before formats were skipped: every format parses the sample."""
    sample = pl.Series("line", lines, dtype=pl.String)
    scores = {}
    for name, fmt in FORMATS.items():
        rows, stats = fmt.parse_batch(sample, source="<sample>")
        scores[name] = (stats.parsed, sum(1 for c in rows.columns if rows[c].null_count() < rows.height))
    most = max(parsed for parsed, _ in scores.values())
    if most == 0:
        return None
    close = [name for name, (parsed, _) in scores.items() if parsed >= 0.9 * most]
    return max(close, key=lambda name: scores[name][1])


_FIELD = st.text(alphabet=st.sampled_from(list(' -"\\[]:\t\x1f\x85é1a.')), max_size=6)
_LINES = st.sampled_from(
    [COMBINED, COMMON, VHOST, "example.com " + COMBINED, COMBINED[:-6], COMMON[:-3], JSON, CADDY,
     '1.2.3.4 5.6.7.8 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
     '1.2.3.4 - a b [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
     "h 1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"u\\\"a\"", "garbage"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        _LINES
        | st.builds(lambda line, at, junk: line[:at] + junk + line[at:], _LINES, st.integers(0, 90), _FIELD),
        min_size=1,
        max_size=12,
    )
)
def test_skipping_formats_detects_what_scoring_all_detects(lines):
    """Detection parses a format only while it could change the answer: the answer is the one
    every format's parse gives (mixes of formats, cut lines, hostile characters anywhere)."""
    expected = _detect_by_scoring_all(lines)
    if expected is None:
        with pytest.raises(InputError):
            detect_format(lines)
    else:
        assert detect_format(lines) == expected, lines


def test_common_is_not_parsed_on_a_combined_sample(monkeypatch):
    """On combined lines common (no referer or agent: fewer columns than combined fills) cannot
    win and is not parsed (nor vhost_combined: see test_template_lead.py)."""
    calls = []
    real = type(FORMATS["common"]).parse_batch

    def parse_batch(self, *args, **kwargs):
        calls.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(FORMATS["common"]), "parse_batch", parse_batch)
    assert detect_format([COMBINED] * 9 + [COMBINED[:-6]]) == "combined"
    assert "common" not in calls
    assert calls[0] == "combined"
