"""Guess a file's log format from its first lines, using the registered formats themselves.

Detection parses the sample with every registered format (so an extension takes part without
extra code). Among the formats that read at least 90% as many lines as the best one, the one
that fills the most columns wins (combined beats common on combined lines, since common ignores
trailing fields), then registry order.

A file whose lines visibly carry a referer and a user agent (``"..." "..."`` after the status
and bytes) but is read with a format that has no place for them loses every agent: the judge
then sees anonymous clients. :func:`header_loss` finds that case, so the reader says so
(detected format) or refuses (a format the user pinned).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from botguard.errors import InputError
from botguard.logs.formats import FORMATS, LogFormat
from botguard.logs.records import REQUEST_SCHEMA

SAMPLE_LINES = 200
NEARLY = 0.9  # share of the best line count a richer format needs to be preferred
#: The headers a combined line carries after its status and bytes, by column.
HEADERS = {"referer": "referer", "user_agent": "user agent"}
#: A quoted pair after a status and a byte count: what a combined line's referer and agent look
#: like, whatever quotes they hold (the pair's own quotes are all it needs).
_VISIBLE_PAIR = re.compile(r'" (?:[0-9]{3}|-) (?:[0-9]+|-) ".*" ".*"')
#: The same pair where a format's match ended (right after the bytes, for common).
_PAIR_NEXT = re.compile(r'\s*".*" ".*"')


def detect_format(sample_lines: list[str], formats: Mapping[str, LogFormat] | None = None) -> str:
    """The name of the registered format that best reads ``sample_lines``.

    ``formats`` replaces the registry (e.g. with a JSON format using custom field names).

    Raises :class:`InputError` when no format reads any of them.

    A format is parsed only while it could still change the answer (:func:`_bounds`): on a
    combined sample, common (no agent, so fewer columns) is not, nor vhost_combined (no line
    begins as its lines do).

    Examples:
        >>> detect_format(['1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'])
        'combined'
        >>> detect_format(['1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5'])
        'common'
    """
    lines = sample_lines[:SAMPLE_LINES]
    sample = pl.Series("line", lines, dtype=pl.String)
    candidates = FORMATS if formats is None else formats
    bounds = {name: _bounds(fmt, lines) for name, fmt in candidates.items()}
    scores: dict[str, tuple[int, int]] = {}
    while (name := _to_score(bounds, scores)) is not None:
        scores[name] = _score(candidates[name], sample)
    winner = _winner(bounds, scores)
    if winner is None:
        raise InputError(
            f"cannot recognise the log format from the first {len(sample)} lines; "
            f"pass --log-format (one of {', '.join(candidates)}, or an nginx log_format string)"
        )
    return winner


def _winner(bounds: Mapping[str, tuple[int, int]], scores: Mapping[str, tuple[int, int]]) -> str | None:
    """Among the scored formats that read at least NEARLY as many lines as the best one, the one
    that fills the most columns (the first in registry order on ties); None if none reads any.

    A richer format that reads nearly as many lines wins: common also reads combined lines (it
    ignores trailing fields) but would drop every user agent.
    """
    scored = [(name, scores[name]) for name in bounds if name in scores]  # registry order
    most = max((parsed for _, (parsed, _) in scored), default=0)
    if most == 0:
        return None
    close = [(name, filled) for name, (parsed, filled) in scored if parsed >= NEARLY * most]
    return max(close, key=lambda item: item[1])[0]  # max() keeps the first (registry order) on ties


def _to_score(bounds: Mapping[str, tuple[int, int]], scores: Mapping[str, tuple[int, int]]) -> str | None:
    """The first format (registry order) not yet scored whose score could still change the
    winner of ``scores``, or None when none could.

    An unscored format with bounds (most lines, most columns) cannot change it when it reads no
    line, or when the winner reads at least NEARLY as many lines as its most (so it stays among
    the close ones, whatever that format reads) and fills more columns than its most (or as many,
    the winner coming first in registry order): the winner of every format's score is then the
    winner of those scored.
    """
    winner = _winner(bounds, scores)
    names = list(bounds)
    for name, (most_lines, most_filled) in bounds.items():
        if name in scores or most_lines == 0:
            continue
        if winner is None:
            return name
        parsed, filled = scores[winner]
        beaten = most_filled < filled or (most_filled == filled and names.index(winner) < names.index(name))
        if not (parsed >= NEARLY * most_lines and beaten):
            return name
    return None


def _bounds(fmt: LogFormat, lines: Sequence[str]) -> tuple[int, int]:
    """(lines, columns) ``fmt`` reads and fills at most in ``lines``, known without parsing:
    the lines it may read (:func:`_most_lines`), (0, 0) when none; a template fills no header
    column it has no role for (as :func:`_missing_headers` says).

    Not a bound: "no regex of the template matches the line". The quote plan reads some lines
    its template's regexes refuse (common's bytes field takes "-1", "+5"), so a format whose
    regexes match no sample line may still read some. How the lines it reads begin is one
    (:class:`~botguard.logs._template.Lead`): the plan and the regexes agree up to the first quote.
    """
    most = _most_lines(fmt, lines)
    if most == 0:
        return 0, 0
    template = getattr(fmt, "template", None)
    roles = getattr(template, "roles", None)
    dropped = sum(1 for name in HEADERS if name not in roles) if isinstance(roles, tuple) else 0
    return most, len(REQUEST_SCHEMA) - dropped


def _most_lines(fmt: LogFormat, lines: Sequence[str]) -> int:
    """How many of ``lines`` ``fmt`` may read, known without parsing: none when it says it
    reads none (:func:`_reads_none`), at most what it says (``most_read``: the templates do),
    else all."""
    if _reads_none(fmt, lines):
        return 0
    most_read = getattr(fmt, "most_read", None)
    return min(len(lines), int(most_read(lines))) if callable(most_read) else len(lines)


def _score(fmt: LogFormat, sample: pl.Series) -> tuple[int, int]:
    """(lines parsed, columns filled) of ``fmt`` on the sample."""
    rows, stats = fmt.parse_batch(sample, source="<sample>")
    filled = sum(1 for column in rows.columns if rows[column].null_count() < rows.height)
    return stats.parsed, filled


@dataclass(frozen=True, slots=True)
class HeaderLoss:
    """Headers a format drops that most of a file's first lines visibly carry.

    ``missing``: the columns (of :data:`HEADERS`) the format leaves empty; ``carried``: how many
    of the ``sampled`` first lines carry the pair; ``better``/``better_reads``: the registered
    format that reads them and the most sampled lines, and how many (None/0: none does).
    """

    missing: tuple[str, ...]
    carried: int
    sampled: int
    better: str | None
    better_reads: int

    @property
    def noun(self) -> str:
        """The missing headers in words ("referer or user agent")."""
        return " or ".join(HEADERS[name] for name in self.missing)

    def warning(self, path: str, fmt: str) -> str:
        """The stderr line of a detected format that drops the headers (the scan goes on)."""
        return (
            f"{path}: read as {fmt}, which has no {self.noun}, though {self.carried} of its first "
            f'{self.sampled} lines carry them ("..." "..." after the status and bytes): its clients '
            f"are judged without them; {self._way_out()}"
        )

    def refusal(self, path: str, fmt: str) -> str:
        """The error of a pinned format that drops the headers."""
        return (
            f"--log-format {fmt} has no {self.noun}, but {self.carried} of the first {self.sampled} "
            f'lines of {path} carry them ("..." "..." after the status and bytes): its clients would '
            f"be judged without them; {self._way_out()}"
        )

    def _way_out(self) -> str:
        fields = "an nginx log_format string naming $http_referer and $http_user_agent"
        if self.better is None:
            return f"pass --log-format with {fields}"
        return (
            f"--log-format {self.better} reads {self.better_reads} of those lines (the rest count as "
            f"malformed), or pass {fields}"
        )


def header_loss(
    fmt: LogFormat, sample_lines: Sequence[str], formats: Mapping[str, LogFormat] | None = None
) -> HeaderLoss | None:
    """What ``fmt`` drops of the headers most of ``sample_lines`` carry, or None.

    Cheap in the usual case: one regex over the sample, and for a template format its roles;
    only a file that carries the pair and is read without them is parsed (to name a better
    format from ``formats``, the registry by default).

    Examples:
        >>> line = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "a "b" c"'
        >>> header_loss(FORMATS["combined"], [line]) is None
        True
        >>> loss = header_loss(FORMATS["common"], [line])
        >>> loss.missing, loss.carried, loss.better, loss.better_reads
        (('referer', 'user_agent'), 1, 'combined', 1)
    """
    sample = list(sample_lines[:SAMPLE_LINES])
    carried = _carrying(fmt, sample)
    if carried * 2 <= len(sample):
        return None
    missing = _missing_headers(fmt, sample)
    if not missing:
        return None
    series = pl.Series("line", sample, dtype=pl.String)
    candidates = FORMATS if formats is None else formats
    reads = {
        name: other.parse_batch(series, source="<sample>")[0]
        for name, other in candidates.items()
        if name != fmt.name and _most_lines(other, sample) > 0
    }
    better = {
        name: rows.height
        for name, rows in reads.items()
        if rows.height and all(rows[column].null_count() < rows.height for column in missing)
    }
    best = max(better, key=lambda name: better[name], default=None)  # max() keeps registry order on ties
    return HeaderLoss(missing, carried, len(sample), best, better.get(best, 0) if best else 0)


def _reads_none(fmt: LogFormat, lines: Sequence[str]) -> bool:
    """Whether ``fmt`` says, without parsing, that it reads none of ``lines`` (a format may
    offer ``reads_none``: the JSON formats do)."""
    reads_none = getattr(fmt, "reads_none", None)
    return bool(reads_none(lines)) if callable(reads_none) else False


def _carrying(fmt: LogFormat, sample: list[str]) -> int:
    """How many sampled lines carry the pair where ``fmt`` does not read it.

    A template format reads a line up to its own end and ignores the rest (common accepts a
    combined line so): only a pair in that rest is dropped. A template whose own fields take the
    quoted values after the status and bytes (an nginx log_format ending in ``"$http_host"
    "$upstream_addr"``) drops nothing, whatever those values hold: the user named them. Lines the
    template does not match, and formats that are not templates, are looked at whole.
    """
    template = getattr(fmt, "template", None)
    patterns = [getattr(template, name, None) for name in ("fast", "slow", "lenient")]
    regexes = [re.compile(pattern) for pattern in patterns if isinstance(pattern, str)]
    return sum(1 for line in sample if _pair_unread(regexes, line))


def _pair_unread(regexes: list[re.Pattern[str]], line: str) -> bool:
    """Whether ``line`` carries the pair after what the first regex that reads it takes."""
    for regex in regexes:
        read = regex.match(line)
        if read is not None:
            return _PAIR_NEXT.match(line, read.end()) is not None
    return _VISIBLE_PAIR.search(line) is not None


def _missing_headers(fmt: LogFormat, sample: list[str]) -> tuple[str, ...]:
    """The headers ``fmt`` leaves empty: a template's are known from its roles; any other
    format is asked by parsing the sample (no row: nothing said, the malformed-lines warning
    speaks for such a file)."""
    template = getattr(fmt, "template", None)
    roles = getattr(template, "roles", None)
    if isinstance(roles, tuple):
        return tuple(name for name in HEADERS if name not in roles)
    rows, _ = fmt.parse_batch(pl.Series("line", sample, dtype=pl.String), source="<sample>")
    if not rows.height:
        return ()
    return tuple(name for name in HEADERS if rows[name].null_count() == rows.height)
