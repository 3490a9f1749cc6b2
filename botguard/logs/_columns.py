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

import functools
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from botguard.addresses import IPV4_RE, IPV6_NOT_SPELLED_RE, IPV6_SHAPE_RE, canonical_address
from botguard.logs.records import REQUEST_SCHEMA

#: Below this many rows polars' in-memory engine beats the streaming one: a scan's block of
#: ~35k lines parsed in ~10% less CPU, and less wall time, in memory (the 1M-line bench log).
STREAMING_ROWS = 100_000

UTC_US = pl.Datetime("us", "UTC")
TIME_LOCAL_FORMAT = "%d/%b/%Y:%H:%M:%S %z"  # 17/May/2015:10:05:03 +0000 (nginx, Apache %t)

# An HTTP method token: upper-case letters (WebDAV and extension methods included). Anything
# else in first position (TLS "\x16\x03...", "SSH-2.0-Go", "-") makes the request invalid.
METHOD_RE = r"^[A-Z][A-Z_-]{0,31}$"
PROTOCOL_RE = r"^HTTP/[0-9](?:\.[0-9])?$"
# A target in origin form (``/...``), ``*`` or absolute form (``scheme://...``), as one pattern.
TARGET_FORM_RE = r"^(?:/|\*$|[A-Za-z][A-Za-z0-9+.-]*://)"
ABSOLUTE_PARTS_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]*)(.*)$"
HOST_PORT_RE = r"^(\[[^\]]*\]|[^:]*):[0-9]*$"


#: The times a Python datetime can hold (years 1 to 9999, in UTC): a logged time outside them is
#: a bad timestamp, not a row whose first conversion to Python fails the whole scan.
EARLIEST_TIME = datetime(1, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def parse_time(cols: Collection[str]) -> pl.Expr:
    """The request time in UTC from whichever time field the format logs (null if unparsable or
    beyond what Python can hold)."""
    time = _logged_time(cols)
    return pl.when(time.is_between(pl.lit(EARLIEST_TIME, UTC_US), pl.lit(LATEST_TIME, UTC_US))).then(time)


def _logged_time(cols: Collection[str]) -> pl.Expr:
    if "time_local" in cols:
        return _time_local(pl.col("time_local"))
    if "time_iso8601" in cols:  # nginx always writes the offset: one strptime suffices
        return pl.col("time_iso8601").str.strptime(UTC_US, "%+", strict=False)
    if "msec" in cols:
        return _time_epoch(pl.col("msec"))
    if "time_any" in cols:  # JSON logs: the representation varies by server
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


def request_line(cols: Collection[str]) -> pl.Expr:
    """The raw request line: logged as ``$request``, or composed from its parts ("" if neither)."""
    has_parts = any(name in cols for name in ("method", "request_uri", "uri"))
    if not has_parts:
        return pl.col("request").fill_null("") if "request" in cols else pl.lit("")
    method, target, protocol = _col(cols, "method"), _target_from_parts(cols), _col(cols, "protocol")
    words = pl.concat_str([method, target, protocol], separator=" ", ignore_nulls=True)
    composed = pl.when(method.is_not_null() | target.is_not_null()).then(words)
    if "request" in cols:
        return pl.coalesce(pl.col("request"), composed).fill_null("")
    return composed.fill_null("")


def _target_from_parts(cols: Collection[str]) -> pl.Expr:
    """$request_uri, else $uri with ?$args when there are args."""
    target = _col(cols, "request_uri")
    if "uri" in cols:
        args = _col(cols, "args")
        has_args = args.is_not_null() & ~args.is_in(["", "-"])
        uri = (
            pl.when(has_args)
            .then(pl.concat_str(_col(cols, "uri"), pl.lit("?"), args))
            .otherwise(_col(cols, "uri"))
        )
        target = pl.coalesce(target, uri)
    return target


def _col(cols: Collection[str], name: str) -> pl.Expr:
    return pl.col(name) if name in cols else pl.lit(None, dtype=pl.String)


def request_parts(cols: Collection[str]) -> list[pl.Expr]:
    """Provisional method/target/protocol (and any extra word) of each request.

    From the logged request line when there is one, else from the logged parts
    ($request_method, $request_uri, ...); ``_from_parts`` tells which.
    """
    fields = [pl.col(f"_w{i}") for i in range(4)]  # the words of _request, see split_words()
    names = ("_method", "_target", "_protocol", "_extra")
    if not any(name in cols for name in ("method", "request_uri", "uri")):
        return [f.alias(name) for f, name in zip(fields, names)] + [pl.lit(False).alias("_from_parts")]
    from_parts = _col(cols, "request").is_null()
    parts = [
        _col(cols, "method"),
        _target_from_parts(cols),
        _col(cols, "protocol"),
        pl.lit(None, dtype=pl.String),
    ]
    return [
        pl.when(from_parts).then(part).otherwise(f).alias(name) for f, part, name in zip(fields, parts, names)
    ] + [from_parts.alias("_from_parts")]


def split_words() -> pl.Expr:
    """The first four space-separated words of ``_request`` as a struct of ``_w0``.. ``_w3``."""
    return (
        pl.col("_request")
        .str.split_exact(" ", 3)
        .struct.rename_fields([f"_w{i}" for i in range(4)])
        .alias("_words")
    )


def request_validity() -> pl.Expr:
    """Whether the split request line is HTTP (run after :func:`request_parts`).

    A request is valid when it reads ``METHOD TARGET [HTTP/x.y]`` with an upper-case method and
    a target that is origin-form (``/...``), absolute-form (``scheme://...``), ``*`` or, for
    CONNECT, an authority. Everything else (TLS handshakes, ``""``, ``SSH-2.0-Go``, ``-``) is a
    real request of its client, but not HTTP: kept with ``valid_request=False``.
    """
    method, target, protocol = pl.col("_method"), pl.col("_target"), pl.col("_protocol")
    # One pattern per column: polars evaluates both sides of every | and & on every row, so a
    # cheap test beside a regex is paid in full, not a shortcut (three tests of a target cost
    # twice the one pattern; the protocol's starts_with added a third to its regex).
    target_ok = target.str.contains(TARGET_FORM_RE) | ((method == "CONNECT") & (target.str.len_bytes() > 0))
    protocol_ok = protocol.is_null() | protocol.str.contains(PROTOCOL_RE)
    # Leniency: logs that record only a path (no method) still say which URL was requested.
    method_ok = method.str.contains(METHOD_RE) | (pl.col("_from_parts") & method.is_null())
    return (
        method_ok.fill_null(False)
        & target_ok.fill_null(False)
        & protocol_ok.fill_null(False)
        & pl.col("_extra").is_null()
    )


def absolute_form(requests: pl.DataFrame) -> pl.DataFrame:
    """Reduce absolute-form targets (``http://host/p?q``) to ``/p?q``; their host fills a null host.

    Only the (rare) valid rows whose target does not start with ``/`` are examined, so the
    common case costs one ``starts_with``.
    """
    candidates = requests.select(
        (pl.col("valid_request") & ~pl.col("target").str.starts_with("/")).arg_true()
    ).to_series()
    if candidates.len() == 0:
        return requests
    subset = (
        requests[candidates]
        .select(
            pl.col("target"),
            pl.col("host"),
            pl.col("target").str.extract_groups(ABSOLUTE_PARTS_RE).alias("g"),
        )
        .unnest("g")
    )
    fixed = subset.select(
        target=pl.when(pl.col("2").is_null())
        .then(pl.col("target"))
        .when(pl.col("2").str.starts_with("/"))
        .then(pl.col("2"))
        .otherwise(pl.concat_str(pl.lit("/"), pl.col("2"))),
        host=pl.coalesce(pl.col("host"), normalize_host(pl.col("1"))),
    )
    return requests.with_columns(
        requests["target"].scatter(candidates, fixed["target"]),
        requests["host"].scatter(candidates, fixed["host"]),
    )


def normalize_host(host: pl.Expr) -> pl.Expr:
    """Lower-case, without port: ``Example.com:443`` and ``example.com`` are one virtual host."""
    host = host.str.to_lowercase()
    host = pl.when(host.str.contains(HOST_PORT_RE)).then(host.str.replace(HOST_PORT_RE, "$1")).otherwise(host)
    return pl.when(host.is_in(["", "-"])).then(None).otherwise(host)


def host_column(cols: Collection[str]) -> pl.Expr:
    """The virtual host the format logs ($host, then Host header, then server_name)."""
    present = [pl.col(name) for name in ("host", "http_host", "server_name") if name in cols]
    if not present:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(~c.is_in(["", "-"])).then(c) for c in present])


#: The header roles servers log as ``-`` when the client sent none (see :func:`dash_to_empty`).
DASHED = ("referer", "user_agent")


def dash_to_empty(col: pl.Expr, *, null_too: bool = False) -> pl.Expr:
    """``-`` is how servers log an absent header: it becomes "" (sent nothing), not null.

    ``null_too``: a null becomes "" as well, in the same pass (a format whose empty fields
    read as null: one pass where a fill and then this took two).
    """
    absent = (col.is_null() | (col == "-")) if null_too else (col == "-")
    return pl.when(absent).then(pl.lit("")).otherwise(col)


def typed(lazy: pl.LazyFrame, cols: Collection[str]) -> pl.LazyFrame:
    """Add the typed helper columns (``_time``, ``_status``, ... ``_valid``) and ``_reason``.

    Lazy, so a format can fuse it with its own extraction into one streaming query. ``_reason``
    is null for rows that become requests, else why the row is malformed.
    """
    values, reason, parts, valid = _typed_steps(frozenset(cols))
    return (
        lazy.with_columns(values)
        .with_columns(reason)
        .unnest("_words")
        .with_columns(parts)
        .with_columns(valid)
    )


@functools.lru_cache(maxsize=64)
def _typed_steps(
    cols: frozenset[str],
) -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...], tuple[pl.Expr, ...], pl.Expr]:
    """The expressions of :func:`typed` for a set of roles, built once: every block of a scan
    asks for the same ones, and building them in Python costs about as much as running them on
    a small block (expressions are immutable, so they are shared)."""
    bytes_raw = _col(cols, "body_bytes") if "body_bytes" in cols else _col(cols, "bytes_sent")
    status_raw = _col(cols, "status")
    status = pl.when(status_raw != "-").then(status_raw.cast(pl.Int16, strict=False))
    values = (
        parse_time(cols).alias("_time"),
        request_line(cols).alias("_request"),
        status.alias("_status"),
        # Leniency: "-" (aborted request) is an unknown status, not a malformed line.
        (status_raw.is_null() | (status_raw == "-") | status.is_between(100, 999)).alias("_status_ok"),
        pl.when(bytes_raw.is_null() | (bytes_raw == "-"))
        .then(0)
        .otherwise(bytes_raw.cast(pl.Int64, strict=False))
        .alias("_bytes"),
        host_column(cols).alias("_host"),
    )
    reason = (
        pl.when(pl.col("_time").is_null())
        .then(pl.lit("bad_timestamp"))
        .when(~pl.col("_status_ok"))
        .then(pl.lit("bad_status"))
        .when(pl.col("_bytes").is_null())
        .then(pl.lit("bad_bytes"))
        .when(_col(cols, "ip").is_null() | (_col(cols, "ip") == ""))
        .then(pl.lit("missing_ip"))
        .alias("_reason"),
        split_words(),
    )
    return values, reason, tuple(request_parts(cols)), request_validity().alias("_valid")


def request_columns(cols: Collection[str], source: str, *, dashed: Collection[str] = ()) -> list[pl.Expr]:
    """The :data:`REQUEST_SCHEMA` columns from a :func:`typed` frame (before absolute form).

    ``dashed``: the roles of :data:`DASHED` the format already passed through
    :func:`dash_to_empty` (its value as it is then).
    """
    return [
        *_request_columns(frozenset(cols), frozenset(dashed)),
        pl.lit(source, dtype=pl.String).alias("source"),
        pl.col("line_no"),
    ]


@functools.lru_cache(maxsize=64)
def _request_columns(cols: frozenset[str], dashed: frozenset[str]) -> tuple[pl.Expr, ...]:
    """:func:`request_columns` but the source's, built once per set of roles (see
    :func:`_typed_steps`)."""
    valid = pl.col("_valid")
    header = {
        name: _col(cols, name) if name in dashed else dash_to_empty(_col(cols, name)) for name in DASHED
    }
    return (
        _col(cols, "ip").alias("ip"),
        pl.col("_time").alias("time"),
        pl.when(valid).then(pl.col("_method")).alias("method"),
        pl.when(valid).then(pl.col("_target")).alias("target"),
        pl.when(valid).then(pl.col("_protocol")).alias("protocol"),
        pl.col("_request").alias("request"),
        valid.alias("valid_request"),
        pl.col("_status").alias("status"),
        pl.col("_bytes").alias("bytes"),
        header["referer"].alias("referer"),
        header["user_agent"].alias("user_agent"),
        normalize_host(pl.col("_host")).alias("host"),
    )


def split_typed(
    done: pl.DataFrame, *, keep: str = "_keep", line: pl.Expr | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(requests, failed rows with reason, rest) of a collected frame of request columns.

    ``done`` holds the :func:`request_columns`, ``_reason``, a boolean ``keep`` column and what
    ``line`` needs to rebuild a row's text (default: a ``line`` column). ``rest`` are the rows
    neither kept nor failed (``_reason`` null): a format's own rejects, with ``line``.
    """
    text = pl.col("line") if line is None else line
    kept = pl.col(keep)
    done = canonical_ips(done, keep)
    requests = done.select(list(REQUEST_SCHEMA))
    if not done[keep].all():
        requests = requests.filter(done[keep])
        others = done.filter(~kept).with_columns(text.alias("line"))
        failed = others.filter(pl.col("_reason").is_not_null()).select(
            "line_no", "line", pl.col("_reason").alias("reason")
        )
        rest = others.filter(pl.col("_reason").is_null())
    else:
        failed = pl.DataFrame(schema={"line_no": pl.Int64, "line": pl.String, "reason": pl.String})
        rest = done.clear().with_columns(line=pl.lit(None, dtype=pl.String))
    return absolute_form(requests).cast(REQUEST_SCHEMA), failed, rest  # type: ignore[arg-type]


def canonical_ips(done: pl.DataFrame, keep: str = "_keep") -> pl.DataFrame:
    """``done`` with each kept row's ``ip`` in its one spelling (see
    :func:`botguard.addresses.canonical_address`).

    A kept row whose address is not an address (``999.1.1.1``, ``not-an-ip``, a NUL byte) is no
    longer kept and fails as ``bad_client_address``: a client key that is no address would
    reach identity checks and rules. Addresses already in their spelling (IPv4 and IPv6 as
    servers log them) are recognised by regexes; only the other distinct values reach Python.
    """
    ips = done.get_column("ip")
    rows = (done[keep] & ~ips.str.contains(IPV4_RE)).arg_true()
    if rows.len():
        rows = rows.filter(~spelled_ipv6(ips.gather(rows)))
    if rows.len() == 0:
        return done
    logged = ips.gather(rows)
    spelling = {value: canonical_address(value) for value in logged.unique().to_list()}
    fixed = logged.replace_strict(spelling, return_dtype=pl.String)
    bad = rows.filter(fixed.is_null())
    return done.with_columns(
        ips.scatter(rows, fixed.fill_null(logged)),
        done[keep].scatter(bad, False),
        done["_reason"].scatter(bad, "bad_client_address"),
    )


def spelled_ipv6(ip: pl.Series) -> pl.Series:
    """Whether each value is IPv6 in its one spelling (regexes of :mod:`botguard.addresses`)."""
    return (ip.str.contains(IPV6_SHAPE_RE) & ~ip.str.contains(IPV6_NOT_SPELLED_RE)).fill_null(False)


def finished(
    frame: pl.LazyFrame, cols: Collection[str], source: str, rows: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Requests and failed rows (``line_no``, ``line``, ``reason``) from a typed lazy frame."""
    done = frame.select(*request_columns(cols, source), "line", "_reason", _keep=pl.col("_reason").is_null())
    requests, failed, _ = split_typed(done.collect(engine=engine_for(rows)))
    return requests, failed


def engine_for(rows: int) -> Literal["streaming", "in-memory"]:
    """Streaming spreads big frames over all cores; small ones are cheaper in memory."""
    return "streaming" if rows >= STREAMING_ROWS else "in-memory"


def finish(raw: pl.DataFrame, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed requests and failed rows from a frame of raw role columns (see module doc)."""
    return finished(typed(raw.lazy(), raw.columns), raw.columns, source, raw.height)
