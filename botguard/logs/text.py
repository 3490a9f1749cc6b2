"""Text access-log formats described by an nginx ``log_format`` template.

The built-ins (combined, common, vhost_combined) are templates compiled by the same compiler
users reach with ``--log-format '$remote_addr ...'``, so one parser serves all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from botguard.logs import _malformed
from botguard.logs._columns import finish
from botguard.logs._quoteplan import QuotePlan, build_plan
from botguard.logs._template import Template, compile_template, tokenize
from botguard.logs.records import ParseStats

# The ident field (%l) of Apache's formats is written as an unknown variable, i.e. a skipped
# field, because some servers log a value there instead of "-".
COMBINED = '$remote_addr $remote_ident $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
COMMON = "$remote_addr $remote_ident $remote_user [$time_local] \"$request\" $status $body_bytes_sent"
# Apache's vhost_combined is "%v:%p %h ..."; $host keeps the optional :port, stripped later,
# so the portless variant some hosts log ("www.example.com 1.2.3.4 - ...") parses too.
VHOST_COMBINED = "$host " + COMBINED


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
            >>> rows.select("ip", "time", "target", "status", "user_agent").row(0)
            ('1.2.3.4', datetime.datetime(2015, 5, 17, 8, 5, 3, tzinfo=zoneinfo.ZoneInfo(key='UTC')), '/a?b=1', 200, 'curl/8')
            >>> stats.parsed, stats.malformed, dict(stats.malformed_by_reason)
            (1, 1, {'format_mismatch': 1})
        """
        frame = pl.DataFrame({"line": lines.cast(pl.String)}).with_columns(
            line_no=pl.int_range(first_line_no, first_line_no + lines.len(), dtype=pl.Int64)
        )
        matched, rejected = self._extract(frame)
        requests, failed = finish(matched, source)
        malformed = pl.concat([_malformed.classify(rejected), failed], how="vertical_relaxed")
        return requests, _malformed.build_stats(frame.height, requests, malformed, source)

    def _extract(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Split ``frame`` into matched rows (raw role columns) and rejected rows."""
        # Over-long lines never reach a regex (bounded cost); they are rejected as too_long.
        long = _malformed.too_long(pl.col("line"))
        rejected = frame.filter(long)
        todo = frame.filter(~long.fill_null(False)).rechunk()
        planned = None
        if self.plan is not None:
            planned, todo = self.plan.extract(todo)
        fast = _with_groups(todo, self.template.fast)
        hit = pl.col("_g").struct.field(self.template.roles[0]).is_not_null()
        matched = fast.filter(hit)
        missed = fast.filter(~hit).drop("_g")
        if self.template.has_quotes and missed.height:
            # Only the odd rows pay for the escape-aware regex (backslash-escaped quotes).
            slow = _with_groups(missed, self.template.slow)
            matched = pl.concat([matched, slow.filter(hit)]).sort("line_no")
            missed = slow.filter(~hit).drop("_g")
        rejected = pl.concat([rejected, missed]).sort("line_no")
        matched = matched.unnest("_g")
        if planned is not None and planned.height:
            matched = pl.concat([planned, matched.select(planned.columns)]).sort("line_no") if matched.height else planned
        return matched, rejected


def _with_groups(frame: pl.DataFrame, pattern: str) -> pl.DataFrame:
    """``frame`` plus a struct column ``_g`` of the pattern's named groups (null if no match)."""
    # The streaming engine runs the regex on all cores; the eager one on a single core here.
    return frame.lazy().with_columns(pl.col("line").str.extract_groups(pattern).alias("_g")).collect(engine="streaming")


def builtin_formats() -> tuple[TemplateFormat, ...]:
    """The template formats botguard ships (registered like any extension)."""
    return (
        TemplateFormat("combined", COMBINED, "NCSA combined (nginx and Apache default)"),
        TemplateFormat("common", COMMON, "NCSA common log format (no referer, no user agent)"),
        TemplateFormat("vhost_combined", VHOST_COMBINED, "Apache vhost_combined: host[:port] then combined"),
    )
