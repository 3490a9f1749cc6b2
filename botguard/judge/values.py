"""Scan records as the scan JSON contract (DESIGN.md) and back: both directions in one place.

Writing: the report (``--format json``) and the state database store the same values. Reading:
``deploy-rules --from SCAN.json`` and the state database's latest scan become the judge's
records again, so every later stage reads typed records whatever the scan came from.

A scan read back holds what the contract carries. What it does not carry reads as None or
empty: the client columns only the scan's model step reads (``robots_token``,
``judged_requests``, ``invalid_requests``, ``assets``, ``referers``, ``pages``, ``hosting``,
``allowlisted``), a crawler's ``robots_token`` and ``reasons``, the summary's
``invalid_requests``, malformed-line examples and warnings.

What a document must hold follows the records' types: a key whose field may be None may be
absent or null; every other key must be present with a value of its type (an unknown verdict,
a time not in the contract's form or a count that is text make the document "not a scan").
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, get_args, get_type_hints

import polars as pl

from botguard.errors import InputError, Location
from botguard.judge.records import (
    CLIENT_JSON_KEYS,
    CLIENT_SCHEMA,
    VERDICT_ORDER,
    ClientSeries,
    ClientVerdict,
    CrawlerNetwork,
    CrawlerRollup,
    KindShare,
    ModelSummary,
    PathHits,
    RobotsChange,
    ScanResult,
    ScanSummary,
    Series,
    Traffic,
)

#: Keys of each crawler roll-up in the scan JSON contract; `asns` lists the networks the crawler
#: was seen from (where a crawler comes from is half of who it is).
CRAWLER_KEYS = (
    "name", "operator", "category", "clients", "ips", "requests", "disallowed_requests",
    "compliance", "verdict", "asns",
)  # fmt: skip

#: Keys of the summary in the scan JSON contract (``verdicts``: clients per verdict, every verdict).
SUMMARY_KEYS = (
    "lines", "parsed", "malformed", "clients", "verdicts", "first_seen", "last_seen", "robots", "model",
)  # fmt: skip

#: How errors name the verdicts a scan may hold ("allow, monitor, challenge or block").
VERDICTS_TEXT = ", ".join(list(VERDICT_ORDER)[:-1]) + " or " + list(VERDICT_ORDER)[-1]

#: Timestamps in every report: ISO 8601, UTC, second resolution, with a Z.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EXAMPLE_TIME = "2024-03-04T10:00:00Z"  # one, for error messages


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the form every report uses."""
    return None if moment is None else moment.strftime(ISO_FORMAT)


def client_json_frame(clients: pl.DataFrame) -> pl.DataFrame:
    """The clients frame reduced to the contract's keys, timestamps as ISO strings."""
    evidence_time = pl.element().struct.with_fields(pl.field("time").dt.strftime(ISO_FORMAT))
    return clients.select(CLIENT_JSON_KEYS).with_columns(
        pl.col("first_seen", "last_seen").dt.strftime(ISO_FORMAT),
        pl.col("evidence").list.eval(evidence_time),
    )


def client_json_table(clients: pl.DataFrame) -> bytes:
    """The clients' contract values column-wise, as an Arrow IPC stream (zstd): how the state
    database keeps a scan. Serialising every client to JSON text and inserting it as a row cost
    a third of a cron run over a big log; this is ~10x cheaper both ways, and reads back through
    the same checks as the JSON (:func:`scan_from_table`)."""
    buffer = io.BytesIO()
    client_json_frame(clients).write_ipc_stream(buffer, compression="zstd")
    return buffer.getvalue()


def client_json_text(clients: pl.DataFrame) -> str:
    """One compact JSON object per client, each followed by a newline, in frame order (polars
    writes them column-wise). Only ``\n`` ends an object: JSON escapes it inside strings, but
    not U+2028, U+2029 or NEL, which a log's user agent may hold and ``str.splitlines`` would
    also split at."""
    if clients.height == 0:
        return ""
    return client_json_frame(clients).write_ndjson()


def client_json_strings(clients: pl.DataFrame) -> pl.Series:
    """The objects :func:`client_json_text` writes, one string per client (polars encodes a
    row's struct as its NDJSON writer does; tests/judge/test_scan_json.py checks the two agree)."""
    return client_json_frame(clients).select(pl.struct(pl.all()).struct.json_encode()).to_series()


def client_json_lines(clients: pl.DataFrame) -> list[str]:
    """:func:`client_json_text` as one text per client."""
    return client_json_text(clients).split("\n")[:-1]


def network_value(network: CrawlerNetwork) -> dict[str, Any]:
    return {"asn": network.asn, "as_org": network.as_org, "ips": network.ips, "requests": network.requests}


def crawler_value(rollup: CrawlerRollup) -> dict[str, Any]:
    value = {key: getattr(rollup, key) for key in CRAWLER_KEYS}
    value["asns"] = [network_value(n) for n in rollup.asns]
    return value


def model_value(model: ModelSummary) -> dict[str, Any]:
    return {
        "clients_scored": model.clients_scored,
        "trained_on": model.trained_on,
        "signatures": model.signatures,
        "raised": model.raised,
        "raised_to": {
            "monitor": model.raised_to_monitor,
            "challenge": model.raised_to_challenge,
            "block": model.raised_to_block,
        },
        "raised_by_campaign": model.raised_by_campaign,
    }


def summary_value(result: ScanResult) -> dict[str, Any]:
    """The contract's ``summary`` of a scan (its counts per verdict come from its clients)."""
    summary = result.summary
    value = {key: getattr(summary, key, None) for key in SUMMARY_KEYS}
    value["verdicts"] = result.verdict_counts()
    value["first_seen"] = iso(summary.first_seen)
    value["last_seen"] = iso(summary.last_seen)
    value["robots"] = dict(summary.robots) or None
    value["model"] = None if summary.model is None else model_value(summary.model)
    return value


def traffic_value(traffic: Traffic) -> dict[str, Any]:
    """The traffic summary as plain values (the state database keeps it beside the scan)."""
    return {
        "start": iso(traffic.start), "width": traffic.width, "buckets": traffic.buckets,
        "kinds": [[k.kind, k.clients, k.requests, k.bytes] for k in traffic.kinds],
        "by_kind": [[s.name, list(s.counts)] for s in traffic.by_kind],
        "by_operator": [[s.name, list(s.counts)] for s in traffic.by_operator],
        "by_verdict": [[s.name, list(s.counts)] for s in traffic.by_verdict],
        "clients": [[c.ip, c.user_agent, list(c.counts)] for c in traffic.clients],
        "disallowed_paths": [[p.path, p.requests, p.clients, [list(b) for b in p.by]]
                             for p in traffic.disallowed_paths],
        "robots_changes": [[c.host, iso(c.time)] for c in traffic.robots_changes],
    }  # fmt: skip


def traffic_from_value(value: object, source: str) -> Traffic:
    """A traffic summary from :func:`traffic_value`'s form; InputError when it is not one."""
    try:
        obj = _object(value, "traffic", source)
        start = _time(obj, "start", "traffic", source)
        series = {
            key: tuple(Series(str(name), tuple(map(int, counts))) for name, counts in obj[key])
            for key in ("by_kind", "by_operator", "by_verdict")
        }
        return Traffic(
            start=start or datetime.fromtimestamp(0, UTC),
            width=int(obj["width"]),
            buckets=int(obj["buckets"]),
            kinds=tuple(KindShare(str(k), int(c), int(r), int(b)) for k, c, r, b in obj["kinds"]),
            by_kind=series["by_kind"],
            by_operator=series["by_operator"],
            by_verdict=series["by_verdict"],
            clients=tuple(
                ClientSeries(str(ip), None if agent is None else str(agent), tuple(map(int, counts)))
                for ip, agent, counts in obj["clients"]
            ),
            disallowed_paths=tuple(
                PathHits(str(path), int(n), int(c), tuple((str(who), int(r)) for who, r in by))
                for path, n, c, by in obj["disallowed_paths"]
            ),
            robots_changes=tuple(
                RobotsChange(str(host), datetime.strptime(str(when), ISO_FORMAT).replace(tzinfo=UTC))
                for host, when in obj["robots_changes"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _not_a_scan(f"traffic is damaged ({type(exc).__name__}: {exc})", source) from None


# --- reading a scan back -------------------------------------------------------------------

#: What a document that is not a scan is called in errors (``robots generate --from`` says the same).
NOT_A_SCAN = "not a botguard scan JSON report"

#: A client's keys as read from JSON, all but evidence (timestamps are text until checked).
_CLIENT_JSON: dict[str, pl.DataType] = {
    key: pl.String() if key in ("first_seen", "last_seen") else CLIENT_SCHEMA[key]
    for key in CLIENT_JSON_KEYS
    if key != "evidence"
}
#: A client's evidence as JSON holds it.
_EVIDENCE_JSON = pl.List(
    pl.Struct({"time": pl.String(), "method": pl.String(), "target": pl.String(), "status": pl.Int64(),
               "rule": pl.String(), "line": pl.Int64()})
)  # fmt: skip

#: The clients as the contract holds them, evidence included (the state database's table).
_CLIENT_RAW: dict[str, pl.DataType] = {**_CLIENT_JSON, "evidence": _EVIDENCE_JSON}

#: Client keys whose record field may be None: these may be absent or null, the others not.
_CLIENT_NULLABLE = frozenset(
    name for name, hint in get_type_hints(ClientVerdict).items() if type(None) in get_args(hint)
)

#: Serialises a parsed client again, as the state database holds it (one encoder for all).
_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def _not_a_scan(detail: str, source: str) -> InputError:
    return InputError(f"{NOT_A_SCAN}: {detail}", Location(source))


def scan_from_json(text: str, source: str) -> ScanResult:
    """A scan JSON report (``--format json``) as the judge's records.

    Raises InputError naming the first thing that makes ``text`` not a scan (``source`` is where
    it came from, for the message).
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"cannot read scan JSON: {exc}", Location(source)) from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("clients", "crawlers")):
        raise _not_a_scan("no top-level 'clients' and 'crawlers' lists", source)
    for i, client in enumerate(doc["clients"]):
        if not isinstance(client, dict):
            raise _not_a_scan(f"clients[{i}] is not an object", source)
    lines = list(map(_encode, doc.pop("clients")))  # the parsed clients are freed before the frame is built
    return scan_from_values(doc.get("summary"), lines, doc["crawlers"], source)


def scan_from_values(
    summary: object, client_lines: Sequence[str], crawlers: Sequence[object], source: str
) -> ScanResult:
    """A scan from its parts as stored: the summary and crawler values, one JSON text per client
    (as :func:`client_json_lines` writes them)."""
    return ScanResult(
        summary=_summary(summary, source),
        clients=_client_frame(client_lines, source),
        crawlers=tuple(_crawler(value, f"crawlers[{i}]", source) for i, value in enumerate(crawlers)),
    )


def scan_from_table(
    summary: object, tables: Sequence[bytes], crawlers: Sequence[object], source: str
) -> ScanResult:
    """A scan from its parts as the state database keeps them: the summary and crawler values,
    and the clients in parts, each as :func:`client_json_table` writes them."""
    schema: Any = _CLIENT_RAW
    try:
        raw = pl.concat([pl.read_ipc_stream(table).select(list(schema)).cast(schema) for table in tables])
    except pl.exceptions.PolarsError as exc:
        raise _not_a_scan(f"the clients cannot be read ({_first_line(exc)})", source) from None
    return ScanResult(
        summary=_summary(summary, source),
        clients=_clients_of(raw, source),
        crawlers=tuple(_crawler(value, f"crawlers[{i}]", source) for i, value in enumerate(crawlers)),
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _client_frame(lines: Sequence[str], source: str) -> pl.DataFrame:
    """Client JSON texts as a clients frame with :data:`CLIENT_SCHEMA` (what the contract does
    not carry is null), once every client holds what its record needs."""
    if not lines:
        return pl.DataFrame(schema=CLIENT_SCHEMA)
    try:
        data = "\n".join(lines).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): no log line or server holds one
        index = next(i for i, line in enumerate(lines) if not _is_unicode(line))
        raise _not_a_scan(f"clients[{index}] holds text that is not valid Unicode", source) from None
    try:  # evidence apart: polars reads nested arrays of ndjson 3x slower than it decodes them alone
        raw = pl.read_ndjson(data, schema=_CLIENT_JSON).with_columns(
            pl.Series("evidence", lines).str.json_path_match("$.evidence").str.json_decode(_EVIDENCE_JSON)
        )
    except pl.exceptions.PolarsError as exc:
        raise _not_a_scan(f"a client value has the wrong type ({_first_line(exc)})", source) from None
    return _clients_of(raw, source)


def _clients_of(raw: pl.DataFrame, source: str) -> pl.DataFrame:
    """The contract's client values (times as text) as a clients frame with
    :data:`CLIENT_SCHEMA`, once every client holds what its record needs."""
    if raw.height == 0:
        return pl.DataFrame(schema=CLIENT_SCHEMA)
    _check_clients(raw, source)
    evidence_time = pl.element().struct.with_fields(_time_of(pl.field("time")))
    frame = raw.with_columns(
        _time_of(pl.col("first_seen")),
        _time_of(pl.col("last_seen")),
        pl.col("evidence").list.eval(evidence_time),
    )
    missing = [
        pl.lit(None, dtype).alias(name) for name, dtype in CLIENT_SCHEMA.items() if name not in raw.columns
    ]
    return frame.with_columns(missing).select(list(CLIENT_SCHEMA)).cast(CLIENT_SCHEMA)  # type: ignore[arg-type]


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _time_of(text: pl.Expr) -> pl.Expr:
    """ISO_FORMAT text as a UTC time; null when it is not in that form."""
    return text.str.strptime(pl.Datetime("us", "UTC"), ISO_FORMAT, strict=False)  # CLIENT_SCHEMA's times


def _check_clients(raw: pl.DataFrame, source: str) -> None:
    """The first client that breaks the record types, as an error naming it and what is wrong."""
    item = pl.element().struct.field
    bad_evidence = _time_of(item("time")).is_null() | item("target").is_null() | item("rule").is_null()
    checks = [
        (f"has no '{key}'", pl.col(key).is_null()) for key in CLIENT_JSON_KEYS if key not in _CLIENT_NULLABLE
    ]
    checks += [
        (f"verdict is not {VERDICTS_TEXT}", ~pl.col("verdict").is_in(list(VERDICT_ORDER))),
        (f"first_seen is not a time like {EXAMPLE_TIME}", _time_of(pl.col("first_seen")).is_null()),
        (f"last_seen is not a time like {EXAMPLE_TIME}", _time_of(pl.col("last_seen")).is_null()),
        ("has evidence without a target, a rule or a time like " + EXAMPLE_TIME,
         pl.col("evidence").list.eval(bad_evidence).list.any()),
    ]  # fmt: skip
    first_bad = raw.select(
        expr.fill_null(True).arg_true().first().alias(str(n)) for n, (_, expr) in enumerate(checks)
    ).row(0)
    failures = [(index, n) for n, index in enumerate(first_bad) if index is not None]
    if failures:
        index, n = min(failures)  # the first bad client; for it, the first check in the list
        raise _not_a_scan(f"clients[{index}] {checks[n][0]}", source)


_TYPE_NAMES: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "text",
    dict: "an object",
    list: "a list",
}


def _field(
    obj: Mapping[str, Any], key: str, kind: type, where: str, source: str, *, nullable: bool = False
) -> Any:
    """``obj[key]`` when it is a JSON value of ``kind`` (None when ``nullable`` and absent or null)."""
    value = obj.get(key)
    if value is None and nullable:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problem = f"has no '{key}'" if value is None else f"{key} is not {_TYPE_NAMES[kind]}"
        raise _not_a_scan(f"{where} {problem}", source)
    return value


def _verdict(obj: Mapping[str, Any], where: str, source: str) -> Any:
    verdict = _field(obj, "verdict", str, where, source)
    if verdict not in VERDICT_ORDER:
        raise _not_a_scan(f"{where} verdict is not {VERDICTS_TEXT}", source)
    return verdict


def _time(obj: Mapping[str, Any], key: str, where: str, source: str) -> datetime | None:
    text = _field(obj, key, str, where, source, nullable=True)
    if text is None:
        return None
    try:
        return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _not_a_scan(f"{where} {key} is not a time like {EXAMPLE_TIME}", source) from None


def _object(value: object, where: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _not_a_scan(f"{where} is not an object", source)
    return value


def _network(value: object, where: str, source: str) -> CrawlerNetwork:
    obj = _object(value, where, source)
    return CrawlerNetwork(
        asn=_field(obj, "asn", int, where, source),
        as_org=_field(obj, "as_org", str, where, source, nullable=True),
        ips=_field(obj, "ips", int, where, source),
        requests=_field(obj, "requests", int, where, source),
    )


def _crawler(value: object, where: str, source: str) -> CrawlerRollup:
    obj = _object(value, where, source)
    networks = _field(obj, "asns", list, where, source, nullable=True) or []
    return CrawlerRollup(
        name=_field(obj, "name", str, where, source),
        operator=_field(obj, "operator", str, where, source),
        category=_field(obj, "category", str, where, source),
        robots_token=None,
        clients=_field(obj, "clients", int, where, source),
        ips=_field(obj, "ips", int, where, source),
        requests=_field(obj, "requests", int, where, source),
        disallowed_requests=_field(obj, "disallowed_requests", int, where, source),
        compliance=_field(obj, "compliance", float, where, source, nullable=True),
        verdict=_verdict(obj, where, source),
        reasons=(),
        asns=tuple(_network(n, f"{where}.asns[{i}]", source) for i, n in enumerate(networks)),
    )


def _model(value: object, source: str) -> ModelSummary | None:
    if value is None:
        return None
    where = "summary.model"
    obj = _object(value, where, source)
    count = {
        key: _field(obj, key, int, where, source) for key in ("clients_scored", "trained_on", "signatures")
    }
    raised_to = _object(obj.get("raised_to"), f"{where}.raised_to", source)
    raised = {
        f"raised_to_{key}": _field(raised_to, key, int, f"{where}.raised_to", source)
        for key in ("monitor", "block")
    }
    # a scan written before the challenge verdict or campaign raises existed has no count for them
    challenged = _field(raised_to, "challenge", int, f"{where}.raised_to", source, nullable=True) or 0
    campaign = _field(obj, "raised_by_campaign", int, where, source, nullable=True) or 0
    return ModelSummary(**count, **raised, raised_to_challenge=challenged, raised_by_campaign=campaign)


def _summary(value: object, source: str) -> ScanSummary:
    obj = _object(value, "summary", source)
    robots = _field(obj, "robots", dict, "summary", source, nullable=True) or {}
    if not all(isinstance(v, str) for v in robots.values()):
        raise _not_a_scan("summary robots is not an object of texts", source)
    return ScanSummary(
        lines=_field(obj, "lines", int, "summary", source),
        parsed=_field(obj, "parsed", int, "summary", source),
        malformed=_field(obj, "malformed", int, "summary", source),
        invalid_requests=None,
        clients=_field(obj, "clients", int, "summary", source),
        first_seen=_time(obj, "first_seen", "summary", source),
        last_seen=_time(obj, "last_seen", "summary", source),
        robots=robots,
        model=_model(obj.get("model"), source),
    )
