"""JSON-lines access logs: nginx ``escape=json`` style, Traefik, and Caddy's nested records.

Field names vary by site, so each of our columns has a list of candidate keys (first present
wins) and ``json_fields`` (our column -> their key) overrides them. A key may be a dotted path
into nested objects, with ``[0]`` taking the first element of a list (Caddy logs headers as
lists): ``request.headers.User-Agent[0]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from botguard.errors import UsageError
from botguard.logs import _malformed
from botguard.logs._columns import engine_for, finish
from botguard.logs.records import ParseStats

# Our column -> raw role understood by botguard.logs._columns.finish.
COLUMN_ROLES: dict[str, str] = {
    "ip": "ip",
    "time": "time_any",
    "request": "request",
    "method": "method",
    "target": "request_uri",
    "args": "args",
    "protocol": "protocol",
    "status": "status",
    "bytes": "body_bytes",
    "referer": "referer",
    "user_agent": "user_agent",
    "host": "host",
}

NGINX_KEYS: dict[str, tuple[str, ...]] = {
    "ip": ("remote_addr", "client_ip", "ip", "remote_ip", "ClientHost", "clientip"),
    "time": (
        "time_iso8601",
        "time_local",
        "msec",
        "@timestamp",
        "timestamp",
        "StartUTC",
        "ts",
        "time",
        "date",
    ),
    "request": ("request",),
    "method": ("request_method", "method", "RequestMethod"),
    "target": ("request_uri", "uri", "path", "RequestPath"),
    "args": ("args", "query_string"),
    "protocol": ("server_protocol", "protocol", "RequestProtocol"),
    "status": ("status", "DownstreamStatus", "response_status"),
    "bytes": ("body_bytes_sent", "bytes_sent", "size", "length", "DownstreamContentSize"),
    "referer": ("http_referer", "referer", "referrer", "request_Referer"),
    "user_agent": ("http_user_agent", "user_agent", "request_User-Agent"),
    "host": ("host", "http_host", "server_name", "RequestHost"),
}

CADDY_KEYS: dict[str, tuple[str, ...]] = {
    "ip": ("request.client_ip", "request.remote_ip"),
    "time": ("ts",),
    "method": ("request.method",),
    "target": ("request.uri",),
    "protocol": ("request.proto",),
    "status": ("status",),
    "bytes": ("size",),
    "referer": ("request.headers.Referer[0]",),
    "user_agent": ("request.headers.User-Agent[0]",),
    "host": ("request.host",),
}


@dataclass(frozen=True, slots=True)
class JsonFormat:
    """One JSON object per line; ``keys`` maps our column to candidate key paths."""

    name: str
    keys: Mapping[str, tuple[str, ...]]
    description: str = ""
    _dtype: pl.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.keys) - set(COLUMN_ROLES))
        if unknown:
            raise UsageError(
                f"unknown JSON field mapping for {', '.join(unknown)} (known: {', '.join(COLUMN_ROLES)})"
            )
        object.__setattr__(
            self, "_dtype", _struct_for(path for paths in self.keys.values() for path in paths)
        )

    @classmethod
    def with_fields(cls, json_fields: Mapping[str, str]) -> JsonFormat:
        """The nginx-style JSON format with some columns read from the given keys instead."""
        keys = dict(NGINX_KEYS) | {column: (key,) for column, key in json_fields.items()}
        return cls("json", keys, "JSON lines with custom field names")

    def reads_none(self, lines: Sequence[str]) -> bool:
        """Whether no line of ``lines`` can be read: every line read is an object, and so holds
        a ``{``. Detection scores a format on every file's first lines; this spares a JSON
        format's parse (~10 ms) on a text log."""
        return not any("{" in line for line in lines)

    def parse_batch(
        self, lines: pl.Series, *, source: str, first_line_no: int = 1
    ) -> tuple[pl.DataFrame, ParseStats]:
        """Parse consecutive JSON lines of ``source``; non-objects are malformed, never raised.

        Examples:
            >>> fmt = JsonFormat("json", NGINX_KEYS)
            >>> line = ('{"remote_addr": "::1", "time_iso8601": "2024-01-02T03:04:05+01:00", '
            ...         '"request": "GET / HTTP/2.0", "status": 200}')
            >>> rows, stats = fmt.parse_batch(pl.Series([line, "{oops"]), source="a.json")
            >>> rows.select("ip", "method", "status").row(0), stats.malformed_by_reason["invalid_json"]
            (('::1', 'GET', 200), 1)
        """
        frame = pl.DataFrame({"line": lines.cast(pl.String)}).with_columns(
            line_no=pl.int_range(first_line_no, first_line_no + lines.len(), dtype=pl.Int64)
        )
        line = pl.col("line")
        stripped = line.str.strip_chars()
        is_object = stripped.str.starts_with("{") & stripped.str.ends_with("}") & ~_malformed.too_long(line)
        objects = frame.filter(is_object.fill_null(False))
        others = frame.filter(~is_object.fill_null(False))
        raw, bad_json = self._decode(objects)
        requests, failed = finish(raw, source)
        rejected = others.with_columns(
            reason=pl.when(line.is_null() | (stripped == ""))
            .then(pl.lit("empty"))
            .when(_malformed.too_long(line))
            .then(pl.lit("too_long"))
            .otherwise(pl.lit("invalid_json"))
        )
        bad = bad_json.with_columns(reason=pl.lit("invalid_json"))
        malformed = pl.concat(
            [rejected.select("line_no", "line", "reason"), bad.select("line_no", "line", "reason"), failed]
        )
        return requests, _malformed.build_stats(frame.height, requests, malformed, source)

    def _decode(self, objects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Raw role columns for the decodable objects, and the rows that are not valid JSON."""
        if objects.height == 0:
            return self._roles_frame(objects, {}), objects
        columns = {column: self._expr(paths) for column, paths in self.keys.items()}
        try:
            raw = (
                objects.lazy()
                .with_columns(pl.col("line").str.json_decode(self._dtype).alias("_j"))
                .select("line_no", "line", *(e.alias(COLUMN_ROLES[c]) for c, e in columns.items()))
                .collect(engine=engine_for(objects.height))
            )
        except pl.exceptions.PolarsError:
            return self._decode_slowly(objects)
        return self._roles_frame(raw, columns), objects.clear()

    def _decode_slowly(self, objects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Per-line fallback for a batch holding invalid JSON or values of unexpected types."""
        rows: dict[str, list[Any]] = {"line_no": [], "line": []} | {COLUMN_ROLES[c]: [] for c in self.keys}
        bad_nos: list[int] = []
        for line_no, text in objects.select("line_no", "line").iter_rows():
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                bad_nos.append(line_no)
                continue
            rows["line_no"].append(line_no)
            rows["line"].append(text)
            for column, paths in self.keys.items():
                rows[COLUMN_ROLES[column]].append(_first_value(record, paths))
        raw = pl.DataFrame(
            rows, schema={name: (pl.Int64 if name == "line_no" else pl.String) for name in rows}
        )
        return self._roles_frame(raw, rows), objects.filter(pl.col("line_no").is_in(bad_nos))

    def _roles_frame(self, raw: pl.DataFrame, present: Mapping[str, object]) -> pl.DataFrame:
        """Ensure ``ip`` exists (the finisher requires it) and drop helper columns."""
        if "ip" not in raw.columns:
            raw = raw.with_columns(ip=pl.lit(None, dtype=pl.String))
        return raw.select("line_no", "line", *(c for c in raw.columns if c not in ("line_no", "line")))

    def _expr(self, paths: tuple[str, ...]) -> pl.Expr:
        values = [_path_expr(pl.col("_j"), path) for path in paths]
        return pl.coalesce(values) if len(values) > 1 else values[0]


def _split_path(path: str) -> tuple[list[str], bool]:
    is_list = path.endswith("[0]")
    return (path[:-3] if is_list else path).split("."), is_list


def _struct_for(paths: Any) -> pl.Struct:
    """The nested Struct dtype that decodes exactly the keys we read (others are skipped)."""
    tree: dict[str, Any] = {}
    for path in paths:
        parts, is_list = _split_path(path)
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = pl.List(pl.String) if is_list else pl.String

    def to_dtype(node: dict[str, Any]) -> pl.Struct:
        return pl.Struct({k: to_dtype(v) if isinstance(v, dict) else v for k, v in node.items()})

    return to_dtype(tree)


def _path_expr(root: pl.Expr, path: str) -> pl.Expr:
    parts, is_list = _split_path(path)
    expr = root
    for part in parts:
        expr = expr.struct.field(part)
    return expr.list.first() if is_list else expr


def _first_value(record: dict[str, Any], paths: tuple[str, ...]) -> str | None:
    for path in paths:
        parts, is_list = _split_path(path)
        value: Any = record
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if is_list:
            value = value[0] if isinstance(value, list) and value else None
        if value is not None and not isinstance(value, (dict, list)):
            return value if isinstance(value, str) else json.dumps(value)
    return None


def builtin_formats() -> tuple[JsonFormat, ...]:
    """JSON formats botguard ships (registered like any extension)."""
    return (
        JsonFormat("json", NGINX_KEYS, "JSON lines, nginx escape=json style (also Traefik's flat keys)"),
        JsonFormat("caddy", CADDY_KEYS, "Caddy's JSON access log (nested request object)"),
    )
