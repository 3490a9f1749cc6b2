"""Scan results as terminal tables (rich): what a person reads at a glance."""

from __future__ import annotations

from typing import TextIO

from rich.table import Table
from rich.text import Text

from botguard.judge.records import (
    VERDICT_ORDER,
    ClientVerdict,
    CrawlerRollup,
    ScanResult,
    Traffic,
)
from botguard.judge.timeline import traffic_of
from botguard.judge.values import iso
from botguard.report._console import report_console
from botguard.report._credit import asn_credit
from botguard.report._spark import blocks
from botguard.text import printable

#: Characters of a client's requests-over-time sparkline (the scan's span, left to right).
SPARK_COLUMNS = 16

VERDICT_STYLE = {"block": "bold red", "monitor": "yellow", "allow": "green", "challenge": "magenta"}


def _style(verdict: str) -> str:
    """A verdict's colour; one this table does not know is shown plainly (never dropped)."""
    return VERDICT_STYLE.get(verdict, "")


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def _reasons(result: ScanResult) -> str:
    """`` (bad client address 3, binary 1)``: why lines were malformed, most frequent first."""
    counts = sorted(result.malformed_by_reason, key=lambda item: (-item[1], item[0]))
    return (
        " (" + ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in counts) + ")" if counts else ""
    )


def _summary(result: ScanResult) -> Text:
    s = result.summary
    counts = result.verdict_counts()
    text = Text()
    text.append(f"{s.lines:,} lines", style="bold")
    text.append(f"  {s.parsed:,} parsed  {s.malformed:,} malformed{_reasons(result)}  ")
    text.append(f"{s.invalid_requests:,} non-HTTP requests\n")
    text.append(f"{s.clients:,} clients", style="bold")
    text.append(f" (IP + user agent) from {iso(s.first_seen) or '-'} to {iso(s.last_seen) or '-'}\n")
    for verdict, count in sorted(
        counts.items(), key=lambda item: -VERDICT_ORDER.get(item[0], len(VERDICT_ORDER))
    ):
        text.append(f"{verdict} {count:,}", style=_style(verdict))
        text.append("  ")
    robots = ", ".join(f"{host}: {src}" for host, src in s.robots.items()) or "none (compliance not judged)"
    text.append(f"\nrobots.txt: {printable(robots, 200)}")
    if s.model is not None:
        m = s.model
        text.append(f"\nmodel: {m.clients_scored:,} clients scored, {m.raised:,} raised "
                    f"({m.raised_by_campaign:,} by campaign; to monitor {m.raised_to_monitor:,}, "
                    f"to challenge {m.raised_to_challenge:,}, "
                    f"to block {m.raised_to_block:,})")  # fmt: skip
    return text


def _crawler_table(crawlers: tuple[CrawlerRollup, ...], limit: int) -> Table:
    table = Table(title="Crawlers", title_justify="left", expand=False)
    for header, justify in [
        ("verdict", "left"), ("crawler", "left"), ("operator", "left"), ("category", "left"),
        ("clients", "right"), ("IPs", "right"), ("requests", "right"), ("disallowed", "right"),
        ("compliance", "right"),
    ]:  # fmt: skip
        table.add_column(header, justify=justify, overflow="ellipsis", no_wrap=True)  # type: ignore[arg-type]
    for rollup in crawlers[:limit]:
        table.add_row(
            Text(rollup.verdict, style=_style(rollup.verdict)),
            Text(rollup.name),
            Text(rollup.operator),
            Text(rollup.category),
            f"{rollup.clients:,}",
            f"{rollup.ips:,}",
            f"{rollup.requests:,}",
            f"{rollup.disallowed_requests:,}",
            _percent(rollup.compliance),
        )
    if len(crawlers) > limit:
        table.caption = f"{len(crawlers) - limit} more crawlers: use --top or --format json"
    return table


def _client_label(client: ClientVerdict) -> Text:
    if client.crawler:
        return Text(client.crawler)
    if client.user_agent is None:  # the log format has no agent field (common)
        return Text("(user agent not logged)", style="dim")
    return Text(
        printable(client.user_agent, 48) or "(no user agent)", style="dim" if not client.user_agent else ""
    )


def _client_table(clients: list[ClientVerdict], total: int, traffic: Traffic | None) -> Table:
    table = Table(title="Clients (IP + user agent), harshest verdict first", title_justify="left")
    series = {(s.ip, s.user_agent): s.counts for s in traffic.clients} if traffic is not None else {}
    for header, justify in [
        ("verdict", "left"), ("score", "right"), ("ip", "left"), ("client", "left"), ("category", "left"),
        ("requests", "right"), ("over time", "left"), ("disallowed", "right"), ("robots.txt", "left"),
        ("why", "left"),
    ]:  # fmt: skip
        table.add_column(header, justify=justify, overflow="ellipsis", no_wrap=header != "why")  # type: ignore[arg-type]
    for client in clients:
        fetched = "no" if not client.robots_fetched else ("first" if client.robots_fetched_first else "late")
        counts = series.get((client.ip, client.user_agent))
        table.add_row(
            Text(client.verdict, style=_style(client.verdict)),
            str(client.score),
            Text(printable(client.ip, 39)),
            _client_label(client),
            Text(client.category),
            f"{client.requests:,}",
            Text(blocks(counts, SPARK_COLUMNS) if counts else "", style="cyan"),
            f"{client.disallowed_requests:,}",
            fetched,
            Text(printable("; ".join(client.reasons[:2]), 90)),
        )
    if total > len(clients):
        table.caption = f"{total - len(clients):,} more clients: use --top N or --format json|csv"
    return table


#: Width used when the output is not a terminal (a file, a pipe): wide enough for one row a line.
PIPE_WIDTH = 180


def write_table(result: ScanResult, out: TextIO, *, top: int = 20, width: int | None = None) -> None:
    """Summary, crawler roll-up and the top clients, as rich tables."""
    if width is None and not (hasattr(out, "isatty") and out.isatty()):
        width = PIPE_WIDTH
    console = report_console(out, width)
    console.print(_summary(result))
    console.print()
    if result.crawlers:
        console.print(_crawler_table(result.crawlers, max(top, 1)))
        console.print()
    console.print(_client_table(result.client_rows(max(top, 1)), result.clients.height, traffic_of(result)))
    credit = asn_credit(result)
    if credit:
        console.print(Text(credit, style="dim"))
