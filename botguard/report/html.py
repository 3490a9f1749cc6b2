"""Scan results as a self-contained HTML page. Every log-derived value is HTML-escaped."""

from __future__ import annotations

from html import escape
from typing import TextIO

from botguard.judge.records import VERDICT_ORDER, ScanResult
from botguard.judge.values import iso
from botguard.report._credit import asn_credit

_STYLE = """body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.block{color:#b00;font-weight:bold}.challenge{color:#80a;font-weight:bold}.monitor{color:#a60}.allow{color:#070}td.ua{max-width:40em;word-break:break-all}"""


def _cell(value: object, css: str = "") -> str:
    klass = f' class="{escape(css)}"' if css else ""
    return f"<td{klass}>{escape('' if value is None else str(value))}</td>"


def write_html(result: ScanResult, out: TextIO, *, top: int = 500) -> None:
    """A summary, the crawler roll-up and up to `top` clients."""
    s = result.summary
    out.write("<!doctype html><meta charset=utf-8><title>botguard scan</title>")
    out.write(f"<style>{_STYLE}</style><h1>botguard scan</h1>")
    out.write(
        f"<p>{s.lines:,} lines, {s.parsed:,} parsed, {s.malformed:,} malformed; {s.clients:,} clients "
        f"from {escape(iso(s.first_seen) or '-')} to {escape(iso(s.last_seen) or '-')}.</p>"
    )
    counts = sorted(result.verdict_counts().items(), key=lambda item: -VERDICT_ORDER[item[0]])
    out.write("<p>" + ", ".join(f'<span class="{v}">{v} {n:,}</span>' for v, n in counts) + "</p>")
    out.write("<h2>Crawlers</h2><table><tr><th>verdict<th>crawler<th>operator<th>category<th>clients"
              "<th>IPs<th>requests<th>disallowed<th>compliance</tr>")  # fmt: skip
    for r in result.crawlers:
        out.write(
            "<tr>" + _cell(r.verdict, r.verdict) + _cell(r.name) + _cell(r.operator) + _cell(r.category)
        )
        out.write(_cell(r.clients) + _cell(r.ips) + _cell(r.requests) + _cell(r.disallowed_requests))
        out.write(_cell("-" if r.compliance is None else f"{r.compliance:.1%}") + "</tr>")
    out.write("</table><h2>Clients</h2><table><tr><th>verdict<th>score<th>IP<th>user agent<th>category"
              "<th>requests<th>disallowed<th>reasons</tr>")  # fmt: skip
    for c in result.client_rows(top):
        out.write("<tr>" + _cell(c.verdict, c.verdict) + _cell(c.score) + _cell(c.ip))
        out.write(
            _cell(c.user_agent, "ua") + _cell(c.category) + _cell(c.requests) + _cell(c.disallowed_requests)
        )
        out.write(_cell("; ".join(c.reasons)) + "</tr>")
    out.write("</table>")
    if result.clients.height > top:
        out.write(f"<p>{result.clients.height - top:,} more clients not shown.</p>")
    credit = asn_credit(result)
    if credit:
        out.write(f"<footer><small>{escape(credit)}</small></footer>")
