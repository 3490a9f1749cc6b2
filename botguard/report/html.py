"""Scan results as one self-contained HTML page: panels, SVG charts and a client table.

One file, no network: the charts are SVG drawn here (:mod:`botguard.report._svg`), the style
and the script (``report.css``, ``report.js`` beside this file) are inline and allowed by their
hashes in the page's Content-Security-Policy, which forbids everything else (no other script,
no inline event handler, no request unless the page is served live). Every log-derived value
is escaped into the markup or travels in a JSON data block the script reads (never markup).
It opens offline, prints (the evidence opens for printing), and follows the reader's light or
dark preference. ``botguard serve`` shows the same page with a live panel (:class:`LivePage`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import TextIO

from botguard.judge.records import ScanResult
from botguard.judge.timeline import traffic_of
from botguard.judge.values import iso
from botguard.report import _panels
from botguard.report._clientdata import client_data, packed
from botguard.report._credit import asn_credit
from botguard.report.records import LivePage, RulesPreview
from botguard.web import csp_hash, json_for_html

__all__ = ["SCRIPT", "STYLE", "csp", "write_html"]

_FILES = resources.files("botguard.report")
STYLE = _FILES.joinpath("report.css").read_text(encoding="utf-8")
SCRIPT = _FILES.joinpath("report.js").read_text(encoding="utf-8")


def csp(live: bool = False) -> str:
    """The page's policy: its own style and script only; requests only to the serving site, live."""
    here = "'self'" if live else "'none'"
    return (
        f"default-src 'none'; script-src {csp_hash(SCRIPT)}; style-src {csp_hash(STYLE)}; img-src 'none'; "
        f"connect-src {here}; form-action 'none'; base-uri 'none'"
    )


_NAV = (
    ("headline", "Headline"), ("time", "Over time"), ("robots", "robots.txt"), ("identity", "Identity"),
    ("verdicts", "Verdicts and rules"), ("offenders", "Top offenders"), ("clients", "Clients"),
)  # fmt: skip


def _head(result: ScanResult, live: LivePage | None) -> str:
    s = result.summary
    span = f"{iso(s.first_seen) or '-'} to {iso(s.last_seen) or '-'}"
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{anchor}">{escape(name)}</a>' for anchor, name in _NAV)
    if live is not None:
        nav = '<a href="#live">Live</a>' + nav
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp(live is not None))}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light dark"><meta name="robots" content="noindex,nofollow">'
        f"<title>botguard report: {escape(span)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>botguard report</h1><p>{s.lines:,} log lines from {escape(span)} (UTC); made {made}"
        f"{' (live)' if live is not None else ''}.</p><nav>{nav}</nav></header><main>"
    )


def _live_section() -> str:
    """The live panel; the script fills it from the event stream (hidden until it connects)."""
    table = '<table id="{id}"><thead><tr>{head}</tr></thead><tbody></tbody></table>'

    def heads(*names: str) -> str:
        return "".join(f"<th>{name}</th>" for name in names)

    return (
        '<section id="live" hidden><h2>Live</h2><p id="bg-live-stamp" class="stamp">connecting\u2026</p>'
        '<div class="grid2"><div><h3>Who crawls now</h3>'
        + table.format(id="bg-live-now", head=heads("IP", "client", "requests"))
        + "</div><div><h3>Requests per minute per operator</h3>"
        + table.format(id="bg-live-rates", head=heads("operator", "per minute"))
        + "</div></div><h3>Rule candidates from the model</h3>"
        + table.format(
            id="bg-live-candidates", head=heads("signature", "rule", "status", "requests", "review")
        )
        + '<p id="bg-live-status" role="status" aria-live="polite"></p></section>'
    )


def write_html(
    result: ScanResult, out: TextIO, *, preview: RulesPreview | None = None, live: LivePage | None = None
) -> None:
    """Write the whole page (see the module docstring)."""
    traffic = traffic_of(result)
    out.write(_head(result, live))
    if live is not None:
        out.write(_live_section())
    out.write(_panels.headline(result, traffic))
    out.write(_panels.over_time(traffic))
    out.write(_panels.robots_section(result, traffic))
    out.write(_panels.identity_section(result))
    out.write(_panels.verdicts(result, preview))
    out.write(_panels.offenders(result, traffic))
    out.write(_panels.clients_section(result))
    out.write("</main><footer>")
    credit = asn_credit(result)
    if credit:
        out.write(f"<p><small>{escape(credit)}</small></p>")
    out.write("<p><small>botguard: a crawler-defense suite. Charts are drawn at report time; "
              "the table holds every client.</small></p></footer>")  # fmt: skip
    page = {
        "live": None if live is None else {"events": live.events, "review": live.review, "csrf": live.csrf}
    }
    out.write(f'<script type="application/json" id="bg-page-data">{json_for_html(page)}</script>')
    table = packed(client_data(result.clients, _panels.verdicts_of(result)))
    out.write(f'<script type="application/json" id="bg-clients">{json_for_html(table)}</script>')
    out.write(f"<script>{SCRIPT}</script></body></html>\n")
