"""The sections of the HTML report, each built from the scan's records (private).

Every function returns one ``<section>``; every log-derived value passes :func:`text` (control
characters as \\xHH, then HTML-escaped) before it reaches the markup. Sizes are bounded (the
top rows of each list), so a 100k-client scan gives a page of the same length as a small one;
the full client list is the table's data block (:mod:`botguard.report._clientdata`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from html import escape

import polars as pl

from botguard.identity.records import IDENTITIES
from botguard.judge.records import TRAFFIC_KINDS, VERDICT_ORDER, ScanResult, Traffic
from botguard.judge.values import iso
from botguard.report._svg import Bar, Mark, Part, bars, byte_size, lines, sparkline, stacked_bars
from botguard.report.records import RulesPreview
from botguard.text import printable

#: Rows each list shows at most (the client table holds every client).
TOP_CRAWLERS = 25
EVIDENCE_PER_CRAWLER = 30
TOP_HONEYPOT = 50
TOP_ASNS = 15
TOP_OFFENDERS = 20


def text(value: object, limit: int | None = None) -> str:
    """A value as safe HTML text: control characters shown as \\xHH, markup escaped."""
    return escape(printable("" if value is None else str(value), limit))


def css_name(value: str) -> str:
    """A verdict or kind as a class-name fragment (letters and digits only)."""
    return "".join(ch for ch in value.lower() if ch.isalnum()) or "other"


def verdict_css(verdict: str) -> str:
    """``v-block``, ``v-challenge`` ...: the stylesheet colours the verdicts it knows, any other grey."""
    return f"v-{css_name(verdict)}"


def kind_css(kind: str) -> str:
    """``k0`` ... ``k9`` in :data:`TRAFFIC_KINDS` order."""
    return f"k{list(TRAFFIC_KINDS).index(kind)}" if kind in TRAFFIC_KINDS else "k-other"


def verdicts_of(result: ScanResult) -> list[str]:
    """Every verdict the scan's records carry, mildest first (unknown ones last, never dropped)."""
    present = set(result.clients.get_column("verdict").unique().to_list()) | {
        c.verdict for c in result.crawlers
    }
    return sorted(present | set(VERDICT_ORDER), key=lambda v: (VERDICT_ORDER.get(v, len(VERDICT_ORDER)), v))


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (), css: str = ""
) -> str:
    """A table from already-escaped cells (headers are ours); ``numeric`` columns align right."""
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def plural(count: int, noun: str) -> str:
    """``1 client``, ``2 clients``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _badge(verdict: str) -> str:
    return f'<span class="badge {verdict_css(verdict)}">{text(verdict)}</span>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def _share(part: int, whole: int) -> str:
    return "-" if whole <= 0 else f"{part / whole:.1%}"


# ---------------------------------------------------------------------------- headline


def headline(result: ScanResult, traffic: Traffic | None) -> str:
    """Lines, clients, the period, and each kind's share of requests and bytes."""
    s = result.summary
    requests = int(result.clients.get_column("requests").sum() or 0)
    tiles = [
        ("lines", f"{s.lines:,}", f"{s.parsed:,} parsed, {s.malformed:,} malformed"),
        ("clients", f"{s.clients:,}", "IP + user agent"),
        ("requests", f"{requests:,}", f"{len(result.crawlers):,} known crawlers"),
    ]
    if traffic is not None:
        sent = sum(k.bytes for k in traffic.kinds)
        tiles.append(("bytes sent", byte_size(sent), "response bodies"))
    robots = (
        "; ".join(f"{host}: {source}" for host, source in s.robots.items()) or "none (compliance not judged)"
    )
    body = (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><span class="big">{escape(value)}</span> {escape(name)}'
            f"<br><small>{escape(note)}</small></div>"
            for name, value, note in tiles
        )
        + "</div>"
    )
    body += f"<p>robots.txt: {text(robots, 300)}</p>"
    for warning in result.warnings:
        body += f'<p class="warning">{text(warning, 500)}</p>'
    if traffic is not None and traffic.kinds:
        body += _kind_shares(traffic)
    return _section("headline", "Headline", body)


def _kind_shares(traffic: Traffic) -> str:
    requests = sum(k.requests for k in traffic.kinds)
    sent = sum(k.bytes for k in traffic.kinds)
    parts = [Part(k.kind, kind_css(k.kind), (k.requests,)) for k in traffic.kinds]

    def share_bar(name: str, amounts: list[int]) -> Bar:
        whole = max(sum(amounts), 1)
        parts = tuple(
            Part(k.kind, kind_css(k.kind), (round(n / whole * 1000),), f"{_share(n, whole)} of {name}")
            for k, n in zip(traffic.kinds, amounts, strict=True)
        )
        return Bar(name, parts, "100%")

    rows = [
        share_bar("requests", [k.requests for k in traffic.kinds]),
        share_bar("bytes", [k.bytes for k in traffic.kinds]),
    ]
    table = _table(
        ["kind", "clients", "requests", "share", "bytes", "share"],
        (
            [f'<span class="sw {kind_css(k.kind)}"></span>{escape(k.kind)}', f"{k.clients:,}",
             f"{k.requests:,}", _share(k.requests, requests), byte_size(k.bytes), _share(k.bytes, sent)]
            for k in traffic.kinds
        ),
        numeric=(1, 2, 3, 4, 5),
    )  # fmt: skip
    return bars("kind-shares", "Share of requests and bytes by kind of client", rows, parts) + table


# ---------------------------------------------------------------------------- over time


def _bucket_name(seconds: int) -> str:
    step = timedelta(seconds=seconds)
    if step >= timedelta(days=1):
        return f"{step.days} day" + ("s" if step.days > 1 else "")
    if step >= timedelta(hours=1):
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours > 1 else "")
    return f"{seconds // 60} minutes"


def over_time(traffic: Traffic | None) -> str:
    """Requests over time by kind, for the busiest operators and by verdict; robots.txt changes marked."""
    if traffic is None:
        return _section("time", "Requests over time", "<p>This scan holds no timeline (a scan read back "
                        "from JSON, or one without requests).</p>")  # fmt: skip
    marks = [
        Mark(c.time, f"robots.txt of {c.host} changed, first seen {iso(c.time)}")
        for c in traffic.robots_changes
    ]
    span = (traffic.start, traffic.width, traffic.buckets)
    kinds = [Part(s.name, kind_css(s.name), s.counts) for s in traffic.by_kind]
    operators = [Part(s.name, f"s{i}", s.counts) for i, s in enumerate(traffic.by_operator)]
    verdicts = [Part(s.name, verdict_css(s.name), s.counts) for s in traffic.by_verdict]
    body = f"<p>Each bar: {_bucket_name(traffic.width)} (UTC). Hover a bar for its counts."
    if marks:
        body += " Dashed lines: a new robots.txt version was first seen."
    body += "</p><h3>By kind of client</h3>" + stacked_bars(
        "time-kinds", "Requests over time by kind", kinds, *span, marks
    )
    if operators:
        body += "<h3>Busiest crawler operators</h3>" + lines(
            "time-operators", "Requests over time of the busiest crawler operators", operators, *span, marks
        )
    body += "<h3>By verdict</h3>" + stacked_bars(
        "time-verdicts", "Requests over time by verdict", verdicts, *span, marks
    )
    return _section("time", "Requests over time", body)


def offenders(result: ScanResult, traffic: Traffic | None) -> str:
    """The harshest-judged clients with a sparkline of their requests over time."""
    if traffic is None or not traffic.clients:
        return ""
    labels = {
        (ip, agent): (verdict, crawler, requests)
        for ip, agent, verdict, crawler, requests in result.clients.head(TOP_OFFENDERS)
        .select("ip", "user_agent", "verdict", "crawler", "requests")
        .iter_rows()
    }
    rows = []
    for series in traffic.clients[:TOP_OFFENDERS]:
        verdict, crawler, requests = labels.get(
            (series.ip, series.user_agent), ("?", None, sum(series.counts))
        )
        who = crawler or client_label(series.user_agent)
        agent = f'<span title="{text(series.user_agent)}">{text(who, 60)}</span>'
        spark = sparkline(series.counts, f"requests of {printable(series.ip)} over time")
        rows.append([_badge(verdict), text(series.ip), agent, f"{requests:,}", spark])
    table = _table(["verdict", "IP", "client", "requests", "over the scan"], rows, numeric=(3,))
    return _section("offenders", "Top offenders over time", table)


def client_label(agent: str | None) -> str:
    """How a client without a catalogue name is shown: its agent, or why there is none."""
    if agent is None:
        return "(user agent not logged)"
    return agent or "(no user agent)"


# ---------------------------------------------------------------------------- robots.txt


def robots_section(result: ScanResult, traffic: Traffic | None) -> str:
    """Compliance per crawler, the evidence of each violation, the disallowed paths, honeypot hits."""
    judged = [c for c in result.crawlers if c.compliance is not None or c.disallowed_requests]
    judged.sort(key=lambda c: (-c.disallowed_requests, -c.requests, c.name))
    body = ""
    if not result.summary.robots:
        body += "<p>No robots.txt was given: compliance was not judged (<code>--robots FILE</code>).</p>"
    if judged:
        allowed = _allowed_requests(result)
        rows = [
            Bar(c.name, (Part("allowed by robots.txt", "ok", (allowed.get(c.name, 0),)),
                         Part("disallowed by robots.txt", "bad", (c.disallowed_requests,))),
                "-" if c.compliance is None else f"{c.compliance:.1%} compliant")
            for c in judged[:TOP_CRAWLERS]
        ]  # fmt: skip
        legend = [Part("allowed by robots.txt", "ok", (0,)), Part("disallowed by robots.txt", "bad", (0,))]
        body += "<h3>Compliance per crawler (requests judged against robots.txt)</h3>" + bars(
            "compliance", "robots.txt compliance per crawler", rows, legend
        )
    body += _evidence(result)
    if traffic is not None and traffic.disallowed_paths:
        body += "<h3>Disallowed paths most requested</h3>" + _table(
            ["path", "requests", "clients", "by whom (requests)"],
            (
                [f"<code>{text(p.path, 120)}</code>", f"{p.requests:,}", f"{p.clients:,}",
                 ", ".join(f"{text(who, 60)} ({n:,})" for who, n in p.by)]
                for p in traffic.disallowed_paths
            ),
            numeric=(1, 2),
            css="paths",
        )  # fmt: skip
    body += _honeypot(result)
    return _section("robots", "robots.txt compliance", body)


def _allowed_requests(result: ScanResult) -> dict[str, int]:
    """Per crawler, its requests robots.txt allowed: judged minus disallowed (a stored scan does
    not keep the judged count: then every request but the robots.txt fetches)."""
    judged = pl.coalesce(pl.col("judged_requests"), pl.col("requests") - pl.col("robots_fetched"))
    frame = (
        result.clients.filter(pl.col("crawler").is_not_null())
        .group_by("crawler")
        .agg((judged - pl.col("disallowed_requests")).clip(0).sum().alias("allowed"))
    )
    return dict(frame.iter_rows())


#: How the evidence names clients that no catalogue entry names.
UNNAMED = "clients without a catalogue name"


def _evidence(result: ScanResult) -> str:
    """Per crawler that broke robots.txt: its earliest disallowed requests, one click away."""
    named = pl.col("crawler").fill_null(UNNAMED)
    flat = (
        result.clients.filter(pl.col("evidence").list.len() > 0)
        .select(named, "ip", "evidence")
        .explode("evidence")
        .unnest("evidence")
    )
    if flat.height == 0:
        return ""
    totals = dict(
        result.clients.filter(pl.col("disallowed_requests") > 0)
        .group_by(named)
        .agg(pl.col("disallowed_requests").sum())
        .iter_rows()
    )
    shown = flat.sort("time").group_by("crawler", maintain_order=True).head(EVIDENCE_PER_CRAWLER)
    by_crawler: dict[str, list[list[str]]] = {}
    for crawler, ip, time, method, target, status, rule, line in shown.select(
        "crawler", "ip", "time", "method", "target", "status", "rule", "line"
    ).iter_rows():
        where = f" (line {line})" if line is not None else ""
        by_crawler.setdefault(crawler, []).append(
            [text(iso(time)), text(ip), text(method or "-"), f"<code>{text(target, 200)}</code>",
             text(status if status is not None else "-"), text(rule + where)]
        )  # fmt: skip
    out = ["<h3>Violations, with their evidence (earliest disallowed requests of each client)</h3>"]
    for crawler in sorted(by_crawler, key=lambda c: (-totals.get(c, 0), c)):
        rows = by_crawler[crawler]
        total = totals.get(crawler, len(rows))
        out.append(
            f'<details class="evidence"><summary>{text(crawler, 80)}: {plural(total, "disallowed request")}'
            f" ({len(rows):,} shown)</summary>"
            + _table(["time (UTC)", "IP", "method", "path", "status", "robots.txt rule"], rows)
            + "<p><small>Each client keeps its earliest three as evidence "
            "(<code>--format json</code>).</small></p>" + "</details>"
        )
    return "".join(out)


def _honeypot(result: ScanResult) -> str:
    trapped = (
        result.clients.filter(pl.col("honeypot_requests") > 0)
        .sort(["honeypot_requests", "ip"], descending=[True, False])
        .select("verdict", "ip", "crawler", "user_agent", "honeypot_requests", "requests")
    )
    if trapped.height == 0:
        return "<h3>Honeypot hits</h3><p>No client requested a honeypot path.</p>"
    rows = [
        [_badge(verdict), text(ip), text(crawler or client_label(agent), 80), f"{hits:,}", f"{requests:,}"]
        for verdict, ip, crawler, agent, hits, requests in trapped.head(TOP_HONEYPOT).iter_rows()
    ]
    note = (
        f"<p><small>{trapped.height - TOP_HONEYPOT:,} more in the client table.</small></p>"
        if trapped.height > TOP_HONEYPOT
        else ""
    )
    return (
        f"<h3>Honeypot hits</h3><p>{trapped.height:,} client(s) requested a honeypot path.</p>"
        + _table(["verdict", "IP", "client", "honeypot requests", "requests"], rows, numeric=(3, 4))
        + note
    )


# ---------------------------------------------------------------------------- identity


def identity_section(result: ScanResult) -> str:
    """Who each claimed crawler really was, and the networks the worst offenders came from."""
    claims = (
        result.clients.filter(pl.col("crawler").is_not_null() & pl.col("identity").is_not_null())
        .group_by("crawler", "identity")
        .agg(clients=pl.len())
    )
    body = ""
    if claims.height == 0:
        body += "<p>No identity checks in this scan (<code>--no-identity</code>, or no crawler claims).</p>"
    else:
        per: dict[str, dict[str, int]] = {}
        for crawler, ident, clients in claims.iter_rows():
            per.setdefault(crawler, {})[ident] = clients
        order = sorted(per, key=lambda c: (-per[c].get("spoofed", 0), -sum(per[c].values()), c))[
            :TOP_CRAWLERS
        ]
        known = [i for i in IDENTITIES if any(i in per[c] for c in order)]
        known += sorted({i for c in order for i in per[c]} - set(known))
        rows = [Bar(c, tuple(Part(i, f"id-{css_name(i)}", (per[c].get(i, 0),)) for i in known),
                    plural(sum(per[c].values()), "client")) for c in order]  # fmt: skip
        legend = [Part(i, f"id-{css_name(i)}", (0,)) for i in known]
        body += "<h3>Identity per claimed crawler (clients)</h3>" + bars(
            "identity", "Identity of the clients claiming each crawler", rows, legend
        )
    body += _asns(result)
    return _section("identity", "Identity and networks", body)


def _asns(result: ScanResult) -> str:
    harsh = [
        v for v in verdicts_of(result) if VERDICT_ORDER.get(v, len(VERDICT_ORDER)) > VERDICT_ORDER["allow"]
    ]
    offenders = result.clients.filter(pl.col("verdict").is_in(harsh) & pl.col("asn").is_not_null())
    if offenders.height == 0:
        return ""
    networks = (
        offenders.group_by("asn")
        .agg(as_org=pl.col("as_org").drop_nulls().first(), clients=pl.len(), ips=pl.col("ip").n_unique(),
             requests=pl.col("requests").sum())
        .sort(["requests", "asn"], descending=[True, False])
        .head(TOP_ASNS)
    )  # fmt: skip
    rows = [Bar(f"AS{asn} {org or ''}".strip(), (Part("requests", "bad", (requests,)),),
                f"{plural(requests, 'request')}, {plural(clients, 'client')}")
            for asn, org, clients, _, requests in networks.iter_rows()]  # fmt: skip
    table = _table(
        ["network", "organisation", "clients", "IPs", "requests"],
        ([f"AS{asn}", text(org or "-", 80), f"{clients:,}", f"{ips:,}", f"{requests:,}"]
         for asn, org, clients, ips, requests in networks.iter_rows()),
        numeric=(2, 3, 4),
    )  # fmt: skip
    return (
        f"<h3>Networks of the clients judged {escape(' or '.join(harsh))}</h3>"
        + bars("asns", "Networks (ASN) of the offending clients, by requests", rows)
        + table
    )


# ---------------------------------------------------------------------------- verdicts


def verdicts(result: ScanResult, preview: RulesPreview | None) -> str:
    """Clients and requests per verdict, and what deploy-rules would do with this scan."""
    counts = {
        verdict: (clients, requests)
        for verdict, clients, requests in result.clients.group_by("verdict")
        .agg(pl.len(), pl.col("requests").sum())
        .iter_rows()
    }
    names = verdicts_of(result)
    total = sum(r for _, r in counts.values())
    rows = []
    for v in names:
        clients, requests = counts.get(v, (0, 0))
        note = f"{plural(clients, 'client')}, {_share(requests, total)} of requests"
        rows.append(Bar(v, (Part(v, verdict_css(v), (requests,)),), note))
    body = bars("verdicts", "Requests per verdict", rows)
    body += _preview(preview)
    return _section("verdicts", "Verdicts and what deploy-rules would do", body)


def _preview(preview: RulesPreview | None) -> str:
    if preview is None:
        return (
            "<p>The rules preview is computed when the report is made from a scan "
            "(<code>botguard scan --format html</code> or <code>botguard report</code>).</p>"
        )
    out = "<h3>Rules deploy-rules would write for this scan</h3>"
    if preview.rules:
        out += _table(
            ["action", "match", "rules"], ([text(a), text(k), f"{n:,}"] for a, k, n in preview.rules), (2,)
        )
        if preview.model_rules:
            out += f"<p>{preview.model_rules:,} of them from approved model candidates.</p>"
    else:
        out += "<p>No rule: nothing in this scan calls for one.</p>"
    rows = [
        [text(r.group), f"{r.clients:,}", f"{r.requests:,}", f"{r.blocked_clients:,}",
         f"{r.blocked_requests:,}", _share(r.blocked_requests, r.requests)]
        for r in preview.impact.rows
    ]  # fmt: skip
    out += "<h3>Impact on the scanned traffic</h3>" + _table(
        ["clients", "count", "requests", "blocked clients", "blocked requests", "share blocked"],
        rows,
        (1, 2, 3, 4, 5),
    )
    if preview.impact.dangerous:
        examples = "".join(f"<li>{text(e, 200)}</li>" for e in preview.impact.examples)
        out += (
            '<div class="warning"><p>These rules would block people or verified good bots:</p>'
            f"<ul>{examples}</ul></div>"
        )
    return out


# ---------------------------------------------------------------------------- clients


def clients_section(result: ScanResult) -> str:
    """The client table's controls; its rows are drawn by the page script from the data block."""
    options = "".join(f'<option value="{text(v)}">{text(v)}</option>' for v in verdicts_of(result))
    kinds = "".join(f'<option value="{escape(k)}">{escape(k)}</option>' for k in TRAFFIC_KINDS)
    controls = (
        '<div class="controls" role="search">'
        '<label>Filter <input id="bg-filter" type="search" autocomplete="off"'
        ' placeholder="IP, agent, crawler, AS, reason"></label>'
        f'<label>verdict <select id="bg-verdict"><option value="">all</option>{options}</select></label>'
        f'<label>kind <select id="bg-kind"><option value="">all</option>{kinds}</select></label>'
        '<span id="bg-count" role="status" aria-live="polite"></span></div>'
    )
    pager = (
        '<div class="pager"><button type="button" id="bg-prev">previous</button>'
        '<span id="bg-page"></span><button type="button" id="bg-next">next</button></div>'
    )
    noscript = (
        "<noscript><p>The client table needs JavaScript; <code>--format csv</code> lists every client.</p>"
        "</noscript>"
    )
    table = (
        '<div class="scroll"><table id="bg-clients-table" class="clients">'
        "<thead><tr></tr></thead><tbody></tbody></table></div>"
    )
    return _section("clients", f"Clients ({result.clients.height:,})", controls + noscript + table + pager)
