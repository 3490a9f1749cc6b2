"""Turn the raw string fields a format extracted into the typed :data:`REQUEST_SCHEMA` columns.

Every format (template or JSON) ends here, so request-line validation, time zones, absolute-form
targets and the "-" conventions are decided once. All work is column-wise polars expressions.

Raw frame contract: String columns named after template roles (``ip``, ``time_local``,
``time_iso8601``, ``msec``, ``time_any``, ``request`` or ``method``/``request_uri``/``uri``/
``args``/``protocol``, ``status``, ``body_bytes``/``bytes_sent``, ``referer``, ``user_agent``,
``host``/``http_host``/``server_name``), plus ``line_no`` (Int64) and ``line`` (the raw text,
kept for malformed examples). Missing roles are simply absent.
"""

from __future__ import annotations

import polars as pl

from botguard.logs.records import REQUEST_SCHEMA

UTC_US = pl.Datetime("us", "UTC")
TIME_LOCAL_FORMAT = "%d/%b/%Y:%H:%M:%S %z"  # 17/May/2015:10:05:03 +0000 (nginx, Apache %t)

# An HTTP method token: upper-case letters (WebDAV and extension methods included). Anything
# else in first position (TLS "\x16\x03...", "SSH-2.0-Go", "-") makes the request invalid.
METHOD_RE = r"^[A-Z][A-Z_-]{0,31}$"
PROTOCOL_RE = r"^HTTP/[0-9](?:\.[0-9])?$"
ABSOLUTE_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://"
ABSOLUTE_PARTS_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]*)(.*)$"
HOST_PORT_RE = r"^(\[[^\]]*\]|[^:]*):[0-9]*$"


def parse_time(raw: pl.DataFrame) -> pl.Expr:
    """The request time in UTC from whichever time field the format logs (null if unparsable)."""
    if "time_local" in raw.columns:
        return _time_local(pl.col("time_local"))
    if "time_iso8601" in raw.columns:
        return _time_iso(pl.col("time_iso8601"))
    if "msec" in raw.columns:
        return _time_epoch(pl.col("msec"))
    if "time_any" in raw.columns:  # JSON logs: the representation varies by server
        col = pl.col("time_any")
        return pl.coalesce(_time_iso(col), _time_local(col), _time_epoch(col))
    return pl.lit(None, dtype=UTC_US)


def _time_local(col: pl.Expr) -> pl.Expr:
    return col.str.strptime(UTC_US, TIME_LOCAL_FORMAT, strict=False)


def _time_iso(col: pl.Expr) -> pl.Expr:
    # Leniency: an ISO time without an offset is taken as UTC (Traefik's "time" field).
    return pl.coalesce(
        col.str.strptime(UTC_US, "%+", strict=False),
        col.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.f", strict=False).dt.replace_time_zone("UTC"),
        col.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False).dt.replace_time_zone("UTC"),
    )


def _time_epoch(col: pl.Expr) -> pl.Expr:
    micros = (col.cast(pl.Float64, strict=False) * 1_000_000).round(0).cast(pl.Int64, strict=False)
    # Plausibility: epoch seconds between 1990 and 2100, so a stray number is not a time.
    plausible = micros.is_between(631_152_000_000_000, 4_102_444_800_000_000)
    return pl.when(plausible).then(micros.cast(UTC_US))


def request_line(raw: pl.DataFrame) -> pl.Expr:
    """The raw request line: logged as ``$request``, or composed from its parts ("" if neither)."""
    has_parts = any(name in raw.columns for name in ("method", "request_uri", "uri"))
    if not has_parts:
        return pl.col("request").fill_null("") if "request" in raw.columns else pl.lit("")
    method, target, protocol = _col(raw, "method"), _target_from_parts(raw), _col(raw, "protocol")
    words = pl.concat_str([method, target, protocol], separator=" ", ignore_nulls=True)
    composed = pl.when(method.is_not_null() | target.is_not_null()).then(words)
    if "request" in raw.columns:
        return pl.coalesce(pl.col("request"), composed).fill_null("")
    return composed.fill_null("")


def _target_from_parts(raw: pl.DataFrame) -> pl.Expr:
    """$request_uri, else $uri with ?$args when there are args."""
    target = _col(raw, "request_uri")
    if "uri" in raw.columns:
        args = _col(raw, "args")
        has_args = args.is_not_null() & ~args.is_in(["", "-"])
        uri = pl.when(has_args).then(pl.concat_str(_col(raw, "uri"), pl.lit("?"), args)).otherwise(_col(raw, "uri"))
        target = pl.coalesce(target, uri)
    return target


def _col(raw: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name) if name in raw.columns else pl.lit(None, dtype=pl.String)


def request_parts(raw: pl.DataFrame) -> list[pl.Expr]:
    """Provisional method/target/protocol (and any extra word) of each request.

    From the logged request line when there is one, else from the logged parts
    ($request_method, $request_uri, ...); ``_from_parts`` tells which.
    """
    split = pl.col("_request").str.split_exact(" ", 3)
    fields = [split.struct.field(f"field_{i}") for i in range(4)]
    names = ("_method", "_target", "_protocol", "_extra")
    if not any(name in raw.columns for name in ("method", "request_uri", "uri")):
        return [f.alias(name) for f, name in zip(fields, names)] + [pl.lit(False).alias("_from_parts")]
    from_parts = _col(raw, "request").is_null()
    parts = [_col(raw, "method"), _target_from_parts(raw), _col(raw, "protocol"), pl.lit(None, dtype=pl.String)]
    return [
        pl.when(from_parts).then(part).otherwise(f).alias(name) for f, part, name in zip(fields, parts, names)
    ] + [from_parts.alias("_from_parts")]


def request_validity() -> pl.Expr:
    """Whether the split request line is HTTP (run after :func:`request_parts`).

    A request is valid when it reads ``METHOD TARGET [HTTP/x.y]`` with an upper-case method and
    a target that is origin-form (``/...``), absolute-form (``scheme://...``), ``*`` or, for
    CONNECT, an authority. Everything else (TLS handshakes, ``""``, ``SSH-2.0-Go``, ``-``) is a
    real request of its client, but not HTTP: kept with ``valid_request=False``.
    """
    method, target, protocol = pl.col("_method"), pl.col("_target"), pl.col("_protocol")
    target_ok = (
        target.str.starts_with("/")
        | (target == "*")
        | target.str.contains(ABSOLUTE_RE)
        | ((method == "CONNECT") & (target.str.len_bytes() > 0))
    )
    protocol_ok = protocol.is_null() | protocol.str.starts_with("HTTP/") & protocol.str.contains(PROTOCOL_RE)
    # Leniency: logs that record only a path (no method) still say which URL was requested.
    method_ok = method.str.contains(METHOD_RE) | (pl.col("_from_parts") & method.is_null())
    return (
        method_ok.fill_null(False)
        & target_ok.fill_null(False)
        & protocol_ok.fill_null(False)
        & pl.col("_extra").is_null()
    )


def absolute_form(frame: pl.DataFrame) -> pl.DataFrame:
    """Reduce absolute-form targets (``http://host/p?q``) to ``/p?q``, keeping their host.

    Only the (rare) rows whose target does not start with ``/`` are examined, so the common
    case costs one ``starts_with``.
    """
    candidates = frame.select(
        (pl.col("_valid") & ~pl.col("_target").str.starts_with("/")).arg_true()
    ).to_series()
    if candidates.len() == 0:
        return frame.with_columns(_target_host=pl.lit(None, dtype=pl.String))
    subset = frame[candidates].select(pl.col("_target").str.extract_groups(ABSOLUTE_PARTS_RE).alias("g")).unnest("g")
    path = subset["2"]
    path = pl.select(
        pl.when(path.is_null()).then(None).when(path.str.starts_with("/")).then(path)
        .otherwise(pl.concat_str(pl.lit("/"), path))
    ).to_series()
    targets = frame["_target"].scatter(candidates, pl.select(pl.coalesce(path, frame["_target"][candidates])).to_series())
    hosts = pl.Series("_target_host", [None] * frame.height, dtype=pl.String).scatter(candidates, subset["1"])
    return frame.with_columns(targets.alias("_target"), hosts)


def normalize_host(host: pl.Expr) -> pl.Expr:
    """Lower-case, without port: ``Example.com:443`` and ``example.com`` are one virtual host."""
    host = host.str.to_lowercase()
    host = pl.when(host.str.contains(HOST_PORT_RE)).then(host.str.replace(HOST_PORT_RE, "$1")).otherwise(host)
    return pl.when(host.is_in(["", "-"])).then(None).otherwise(host)


def host_column(raw: pl.DataFrame) -> pl.Expr:
    """The virtual host the format logs ($host, then Host header, then server_name)."""
    present = [pl.col(name) for name in ("host", "http_host", "server_name") if name in raw.columns]
    if not present:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(~c.is_in(["", "-"])).then(c) for c in present])


def dash_to_empty(col: pl.Expr) -> pl.Expr:
    """``-`` is how servers log an absent header: it becomes "" (sent nothing), not null."""
    return pl.when(col == "-").then(pl.lit("")).otherwise(col)


def finish(raw: pl.DataFrame, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed rows in :data:`REQUEST_SCHEMA`, and the rows that failed with their reason.

    Returns ``(requests, failed)`` where ``failed`` has ``line_no``, ``line`` and ``reason``.
    Runs on polars' streaming engine, which spreads each step over all cores.
    """
    bytes_raw = _col(raw, "body_bytes") if "body_bytes" in raw.columns else _col(raw, "bytes_sent")
    status_raw = _col(raw, "status")
    status = pl.when(status_raw != "-").then(status_raw.cast(pl.Int16, strict=False))
    frame = (
        raw.lazy()
        .with_columns(
            _time=parse_time(raw),
            _request=request_line(raw),
            _status=status,
            # Leniency: "-" (aborted request) is an unknown status, not a malformed line.
            _status_ok=status_raw.is_null() | (status_raw == "-") | status.is_between(100, 999),
            _bytes=pl.when(bytes_raw.is_null() | (bytes_raw == "-")).then(0).otherwise(bytes_raw.cast(pl.Int64, strict=False)),
            _host=host_column(raw),
        )
        .with_columns(
            _reason=pl.when(pl.col("_time").is_null())
            .then(pl.lit("bad_timestamp"))
            .when(~pl.col("_status_ok"))
            .then(pl.lit("bad_status"))
            .when(pl.col("_bytes").is_null())
            .then(pl.lit("bad_bytes"))
            .when(pl.col("ip").is_null() | (pl.col("ip") == ""))
            .then(pl.lit("missing_ip"))
        )
        .collect(engine="streaming")
    )
    failed = frame.filter(pl.col("_reason").is_not_null()).select("line_no", "line", pl.col("_reason").alias("reason"))
    good = (
        frame.lazy()
        .filter(pl.col("_reason").is_null())
        .with_columns(request_parts(raw))
        .with_columns(_valid=request_validity())
        .collect(engine="streaming")
    )
    good = absolute_form(good)
    valid = pl.col("_valid")
    requests = good.lazy().select(
        pl.col("ip"),
        pl.col("_time").alias("time"),
        pl.when(valid).then(pl.col("_method")).alias("method"),
        pl.when(valid).then(pl.col("_target")).alias("target"),
        pl.when(valid).then(pl.col("_protocol")).alias("protocol"),
        pl.col("_request").alias("request"),
        valid.alias("valid_request"),
        pl.col("_status").alias("status"),
        pl.col("_bytes").alias("bytes"),
        dash_to_empty(_col(raw, "referer")).alias("referer"),
        dash_to_empty(_col(raw, "user_agent")).alias("user_agent"),
        normalize_host(pl.coalesce(pl.col("_host"), pl.col("_target_host"))).alias("host"),
        pl.lit(source, dtype=pl.String).alias("source"),
        pl.col("line_no"),
    )
    return requests.collect(engine="streaming").cast(REQUEST_SCHEMA), failed
