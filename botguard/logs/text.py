"""Text access-log formats described by an nginx ``log_format`` template.

The built-ins (combined, common, vhost_combined) are templates compiled by the same compiler
users reach with ``--log-format '$remote_addr ...'``, so one parser serves all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import polars as pl

from botguard import native
from botguard.logs import _malformed
from botguard.logs._columns import engine_for, finish, request_columns, split_typed, typed
from botguard.logs._quoteplan import SENTINEL, QuotePlan, build_plan
from botguard.logs._template import Template, compile_template, tokenize
from botguard.logs.escapes import escape_raw_bytes
from botguard.logs.readers import split_lines
from botguard.logs.records import REQUEST_SCHEMA, ParseStats

# The ident field (%l) of Apache's formats is written as an unknown variable, i.e. a skipped
# field, because some servers log a value there instead of "-".
COMBINED = (
    '$remote_addr $remote_ident $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
COMMON = '$remote_addr $remote_ident $remote_user [$time_local] "$request" $status $body_bytes_sent'
# Apache's vhost_combined is "%v:%p %h ..."; $host keeps the optional :port, stripped later,
# so the portless variant some hosts log ("www.example.com 1.2.3.4 - ...") parses too.
VHOST_COMBINED = "$host " + COMBINED
# The templates the compiled reader (botguard/logs/_fastparse.c) knows, by its layout names.
FAST_LAYOUTS = {COMMON: "COMMON", COMBINED: "COMBINED", VHOST_COMBINED: "VHOST_COMBINED"}
# The columns of REQUEST_SCHEMA the compiled reader leaves to be added here.
_CONSTANT_COLUMNS = ("source",)
#: The lines the compiled reader hands back are parsed by the polars path this many bytes at a
#: time at most (its working memory grows with what it parses; see logs.PARSE_BYTES).
REST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TemplateFormat:
    """A text format parsed with the regexes compiled from an nginx log_format template."""

    name: str
    template_text: str
    description: str = ""
    template: Template = field(init=False, repr=False, compare=False)
    plan: QuotePlan | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compile once (configure once, run many).
        object.__setattr__(self, "template", compile_template(self.template_text))
        object.__setattr__(self, "plan", build_plan(tokenize(self.template_text)))

    def parse_batch(
        self, lines: pl.Series, *, source: str, first_line_no: int = 1
    ) -> tuple[pl.DataFrame, ParseStats]:
        """Parse consecutive lines of ``source`` starting at line ``first_line_no``.

        Examples:
            >>> fmt = TemplateFormat("combined", COMBINED)
            >>> line = '1.2.3.4 - - [17/May/2015:10:05:03 +0200] "GET /a?b=1 HTTP/1.1" 200 5 "-" "curl/8"'
            >>> rows, stats = fmt.parse_batch(pl.Series([line, "junk"]), source="x.log")
            >>> rows.select("ip", "target", "status", "user_agent").row(0), rows["time"][0].isoformat()
            (('1.2.3.4', '/a?b=1', 200, 'curl/8'), '2015-05-17T08:05:03+00:00')
            >>> stats.parsed, stats.malformed, dict(stats.malformed_by_reason)
            (1, 1, {'format_mismatch': 1})
        """
        frame = _numbered(lines, first_line_no)
        # Over-long lines never reach a regex (bounded cost); they are rejected as too_long.
        long = _malformed.too_long(pl.col("line")).fill_null(False)
        too_long = frame.filter(long) if frame.select(long.any()).item() else frame.clear()
        todo = frame.filter(~long) if too_long.height else frame
        planned = None
        if self.plan is not None and todo.height:
            # A raw 0x1F would pass for the block sentinel: such lines (junk; the readers never
            # hand one over) take the regex path.
            odd = pl.col("line").str.contains(SENTINEL, literal=True)
            unplanned = todo.filter(odd) if todo.select(odd.any()).item() else todo.clear()
            todo = todo.filter(~odd) if unplanned.height else todo
            pieces = todo.lazy().with_columns(self.plan.pieces_of_lines().alias("_q")).unnest("_q")
            # (too_long lines were set aside above: no row needs the plan's size check)
            planned, todo = self._by_plan(pieces, todo.height, source, line=pl.col("line"), long_lines=False)
            todo = pl.concat([todo.select("line", "line_no"), unplanned]).sort("line_no")
        return self._finish_parse(frame.height, planned, todo, too_long, source)

    def most_read(self, lines: Sequence[str]) -> int:
        """How many of ``lines`` :meth:`parse_batch` may read at most, known without parsing:
        those that begin as the template says every line it reads begins
        (:class:`~botguard.logs._template.Lead`). Format detection skips a format that reads none.

        Examples:
            >>> line = '1.2.3.4 - - [17/May/2015:10:05:03 +0200] "GET / HTTP/1.1" 200 5 "-" "curl/8"'
            >>> TemplateFormat("combined", COMBINED).most_read([line, "junk"])
            1
            >>> TemplateFormat("vhost_combined", VHOST_COMBINED).most_read([line])
            0
        """
        begins = self.template.lead.begins
        return sum(1 for line in lines if begins(line))

    def parse_block(
        self, data: bytes, *, source: str, first_line_no: int = 1
    ) -> tuple[pl.DataFrame, ParseStats]:
        """Parse a block of whole lines (bytes ending with a newline): the fast path of the scan.

        The built-in templates are read by the compiled kernel when it is built
        (:func:`_fast_parse`), which leaves the lines it is not certain about to the polars path.
        There, quote-delimited templates are split by polars' CSV reader in one pass; other
        templates go through :meth:`parse_batch`. Bytes that are not UTF-8 are read as their
        ``\\xHH`` escapes (:func:`~botguard.logs.escapes.escape_raw_bytes`).
        """
        kernel = self.fast_reader()
        if kernel is not None:
            return self._fast_parse(kernel, FAST_LAYOUTS[self.template_text], data, source, first_line_no)
        return self._polars_block(data, source=source, first_line_no=first_line_no)

    def fast_reader(self) -> ModuleType | None:
        """The compiled reader of this format's lines, when it reads them (and is built, and on).

        Its working memory is a fraction of the polars path's, so the reader hands it whole
        blocks: the lines it leaves cost the polars path a fixed ~15 ms per call whatever their
        number (the 1M-line bench log leaves 100 lines, in 27 of its 29 blocks).
        """
        if self.template_text not in FAST_LAYOUTS:
            return None
        return native.kernel("logs._fastparse")

    def _fast_parse(
        self, kernel: ModuleType, layout: str, data: bytes, source: str, first_line_no: int
    ) -> tuple[pl.DataFrame, ParseStats]:
        """The kernel's rows, and the polars path's for the lines it handed back, in line order.

        The kernel takes only lines that become requests (never malformed), so the counts of
        the lines it took are theirs alone, and counts empty lines itself (a block of newlines
        handed back cost the polars path ~800 bytes of memory a line); the lines it left are
        parsed as one block of their own, numbered 1.., then renumbered. The examples are the
        first malformed lines of both, in line order.
        """
        columns, rest, numbers = kernel.parse(data, first_line_no, getattr(kernel, layout))
        blanks = _blank_stats(columns.blank_lines, columns.first_blank_lines, source)
        taken = _complete(pl.DataFrame(columns), source)
        invalid = taken.height - int(taken["valid_request"].sum())
        kernel_stats = ParseStats(lines=taken.height, parsed=taken.height, invalid_requests=invalid)
        kernel_stats.merge(blanks)
        if not numbers:
            return taken, kernel_stats
        requests, stats = self._polars_rest(rest, source)
        line_nos = pl.Series("line_no", numbers, dtype=pl.Int64)
        requests = requests.with_columns(line_no=line_nos.gather(requests["line_no"] - 1))
        examples = [(name, numbers[n - 1], text) for name, n, text in stats.malformed_examples]
        stats.malformed_examples = []
        stats.merge(kernel_stats)
        stats.malformed_examples = sorted(
            examples + blanks.malformed_examples, key=lambda example: example[1]
        )[: _malformed.EXAMPLES_PER_BATCH]
        if not taken.height:
            return requests, stats
        if not requests.height:
            return taken, stats
        # (A sort of both: cheaper than merge_sorted, 0.06 against 0.16 CPU-s per 400k lines.)
        return pl.concat([taken, requests]).sort("line_no"), stats

    def _polars_rest(self, rest: bytes, source: str) -> tuple[pl.DataFrame, ParseStats]:
        """The polars path on the lines the kernel left, numbered 1.., at most
        :data:`REST_BYTES` at a time."""
        if len(rest) <= REST_BYTES:
            return self._polars_block(rest, source=source, first_line_no=1)
        frames: list[pl.DataFrame] = []
        stats = ParseStats()
        start = 0
        while start < len(rest):
            cut = rest.find(b"\n", start + REST_BYTES)
            end = len(rest) if cut < 0 else cut + 1
            requests, part = self._polars_block(rest[start:end], source=source, first_line_no=stats.lines + 1)
            frames.append(requests)
            stats.merge(part, keep_examples=_malformed.EXAMPLES_PER_BATCH)
            start = end
        return pl.concat(frames), stats

    def _polars_block(
        self, data: bytes, *, source: str, first_line_no: int
    ) -> tuple[pl.DataFrame, ParseStats]:
        """:meth:`parse_block` without the kernel: the oracle of the lines it takes."""
        # polars' CSV reader drops a CR that ends a piece (CRLF handling), so a CR just before a
        # quote (only ever seen in junk) sends the block through the plain line split instead.
        # (A lone CR is looked for first: one memchr pass, where a two-byte search of a block
        # full of quotes took ~0.25 CPU-seconds per million lines, holding the GIL.)
        if self.plan is None or (b"\r" in data and b'\r"' in data):
            text = split_lines(escape_raw_bytes(data))
            return self.parse_batch(text, source=source, first_line_no=first_line_no)
        # Bytes that are not UTF-8 (junk) are escaped before the read, not after a failed one:
        # an ASCII block (what nginx and Apache write) costs one isascii() pass, and a block
        # holding junk is read once instead of twice (a fifth of the bench log's blocks).
        data = escape_raw_bytes(data)
        pieces = self.plan.read_pieces(data)
        assert pieces is not None  # escaped bytes are UTF-8
        lines = pieces.height
        pieces = pieces.with_columns(
            line_no=pl.int_range(first_line_no, first_line_no + lines, dtype=pl.Int64)
        )
        (requests, failed), left = self._by_plan(
            pieces.lazy(),
            lines,
            source,
            line=self.plan.line_of_pieces(),
            long_lines=not _malformed.short_lines(data),
        )
        if failed["line"].has_nulls() or left["line"].has_nulls():
            # Lines with more quotes than pieces read: take their exact text from a plain line
            # split of the block (rare: only lines with many quotes that also failed).
            texts = split_lines(data)

            def exact(frame: pl.DataFrame) -> pl.DataFrame:
                known = texts.gather(frame["line_no"] - first_line_no)
                return frame.with_columns(pl.coalesce(pl.col("line"), known).alias("line"))

            failed, left = exact(failed), exact(left)
        planned = (requests, failed)
        long = _malformed.too_long(pl.col("line")).fill_null(False)
        todo = left.filter(~long).select("line", "line_no")
        too_long = left.filter(long).select("line", "line_no")
        return self._finish_parse(lines, planned, todo, too_long, source)

    def _finish_parse(
        self,
        lines: int,
        planned: tuple[pl.DataFrame, pl.DataFrame] | None,
        todo: pl.DataFrame,
        too_long: pl.DataFrame,
        source: str,
    ) -> tuple[pl.DataFrame, ParseStats]:
        """Run the regexes on what the plan left, classify the rest, count everything."""
        results = [planned] if planned is not None else []
        matched, rejected = self._by_regex(todo)
        if matched.height:
            results.append(finish(matched, source))
        requests = _concat_sorted([r for r, _ in results], "line_no")
        malformed = pl.concat(
            [_malformed.classify(pl.concat([too_long, rejected])), *(f for _, f in results)],
            how="vertical_relaxed",
        )
        return requests, _malformed.build_stats(lines, requests, malformed, source)

    def _by_plan(
        self, pieces: pl.LazyFrame, rows: int, source: str, *, line: pl.Expr, long_lines: bool
    ) -> tuple[tuple[pl.DataFrame, pl.DataFrame], pl.DataFrame]:
        """((requests, failed) of the rows the quote plan accepts, rows it leaves: line, line_no).

        One streaming query does the split checks and the typing; ``line`` rebuilds the text of
        the few rows that need it (failed or left to the regex); ``long_lines`` as in
        :meth:`QuotePlan.lazy`.
        """
        assert self.plan is not None
        typed_rows = typed(self.plan.lazy(pieces, long_lines=long_lines), self.plan.roles)
        ok = pl.col("_ok")
        extra = ["line"] if "line" in pieces.collect_schema() else _piece_names(self.plan.width)
        done = typed_rows.select(
            *request_columns(self.plan.roles, source, dashed=self.plan.dashed),
            *extra,
            _reason=pl.when(ok).then(pl.col("_reason")),  # rows the plan rejects are the regex's
            _keep=ok & pl.col("_reason").is_null(),
        ).collect(engine=engine_for(rows))
        requests, failed, left = split_typed(done, line=line)
        return (requests, failed), left.select("line", "line_no", *_pieces(left))

    def _by_regex(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows matched by the template regexes with role columns, rows rejected by both)."""
        if frame.height == 0:
            return frame.clear(), frame
        fast = _with_groups(frame, self.template.fast)
        hit = pl.col("_g").struct.field(self.template.roles[0]).is_not_null()
        matched = fast.filter(hit)
        missed = fast.filter(~hit).drop("_g")
        # Only the odd rows pay for the escape-aware regex (backslash-escaped quotes), and only
        # the rows it rejects too for the one that allows bare quotes inside quoted values.
        for pattern in (self.template.slow, self.template.lenient) if self.template.has_quotes else ():
            if not missed.height:
                break
            again = _with_groups(missed, pattern)
            matched = _concat_sorted([matched, again.filter(hit)], "line_no")
            missed = again.filter(~hit).drop("_g")
        return matched.unnest("_g"), missed


def _blank_stats(count: int, first_lines: tuple[int, ...], source: str) -> ParseStats:
    """The counts of the empty lines the kernel counted itself (reason ``empty``, as the polars
    path says), with the first ones as examples (an empty line's text is "")."""
    if not count:
        return ParseStats()
    return ParseStats(
        lines=count,
        malformed=count,
        malformed_by_reason=Counter(empty=count),
        malformed_examples=[(source, number, "") for number in first_lines[: _malformed.EXAMPLES_PER_BATCH]],
    )


def _complete(taken: pl.DataFrame, source: str) -> pl.DataFrame:
    """The kernel's columns as a :data:`REQUEST_SCHEMA` frame: the roles its layout does not
    log are null."""
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in REQUEST_SCHEMA.items()
        if name not in taken.columns and name not in _CONSTANT_COLUMNS
    ]
    return taken.select(
        *(pl.col(name) for name in taken.columns),
        *missing,
        source=pl.lit(source, dtype=pl.String),
    ).select(list(REQUEST_SCHEMA))


def _numbered(lines: pl.Series, first_line_no: int) -> pl.DataFrame:
    return pl.DataFrame({"line": lines.cast(pl.String)}).with_columns(
        line_no=pl.int_range(first_line_no, first_line_no + lines.len(), dtype=pl.Int64)
    )


def _piece_names(width: int) -> list[str]:
    return [f"_s{i}" for i in range(width)]


def _pieces(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("_s") and c[2:].isdigit()]


def _with_groups(frame: pl.DataFrame, pattern: str) -> pl.DataFrame:
    """``frame`` plus a struct column ``_g`` of the pattern's named groups (null if no match)."""
    lazy = frame.lazy().with_columns(pl.col("line").str.extract_groups(pattern).alias("_g"))
    return lazy.collect(engine=engine_for(frame.height))


def _concat_sorted(frames: list[pl.DataFrame], key: str) -> pl.DataFrame:
    """Concatenate frames of disjoint rows back into line order (cheap when only one is non-empty)."""
    frames = [f for f in frames if f.height] or frames[:1]
    if not frames:
        return pl.DataFrame(schema=REQUEST_SCHEMA)
    if len(frames) == 1:
        return frames[0]
    return pl.concat(frames).sort(key)


def build_expressions(formats: Iterable[object]) -> None:
    """Build the polars expressions the template formats among ``formats`` build on their first
    parse (quote plan, request columns), without running a query or starting polars' pool.

    Why: the resident server (botguard daemon) builds them once for every child it forks; each
    child built them itself (~7 ms of CPU for combined), since the server never parses. Not the
    typed columns' (``_columns._typed_steps``): building those starts polars' thread pool,
    which a forked child would then wait on for ever (tests/logs/test_quoteplan.py checks).
    """
    for fmt in formats:
        if not isinstance(fmt, TemplateFormat):
            continue
        request_columns(frozenset(("line", "line_no", *fmt.template.roles)), "")  # a frame _by_regex matched
        if fmt.plan is not None:
            fmt.plan.build()
            request_columns(fmt.plan.roles, "", dashed=fmt.plan.dashed)


def builtin_formats() -> tuple[TemplateFormat, ...]:
    """The template formats botguard ships (registered like any extension)."""
    return (
        TemplateFormat("combined", COMBINED, "NCSA combined (nginx and Apache default)"),
        TemplateFormat("common", COMMON, "NCSA common log format (no referer, no user agent)"),
        TemplateFormat("vhost_combined", VHOST_COMBINED, "Apache vhost_combined: host[:port] then combined"),
    )
