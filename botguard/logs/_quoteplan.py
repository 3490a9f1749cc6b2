"""Fast path for quote-delimited templates: split on ``"`` instead of one big regex.

Why: a regex with seven capture groups costs ~1.5 CPU-seconds per million combined lines in
polars, most of it in capture extraction; splitting each line on its double quotes
(``str.split_exact``) and reading the short unquoted pieces costs about half. Lines the plan
cannot vouch for (escaped quotes, missing or extra quotes, odd spacing) are handed back to the
regex path, so the plan only has to be right about the lines it accepts.

A template qualifies when each quoted part is a single variable or plain text, e.g. combined:
``$remote_addr $remote_ident $remote_user [$time_local] "$request" $status ... "$http_user_agent"``
splits into ``[outside, $request, outside, $http_referer, " ", $http_user_agent, ""]``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from botguard.logs._columns import DASHED, dash_to_empty
from botguard.logs._malformed import MAX_LINE_BYTES
from botguard.logs._template import Variable, value_pattern
from botguard.logs.escapes import escape_raw_bytes

FIXED_WIDTHS = {"time_local": 26}  # "17/May/2015:10:05:03 +0000"
SENTINEL = "\x1f"  # ends every line read from a block (see QuotePlan.read_pieces)
TAIL = r"(?:\s.*)?\x1f?$"  # the end of the last piece: appended fields, then the sentinel
EXTRA_PIECES = 3  # room for appended quoted fields (e.g. "$http_x_forwarded_for") + overflow marker
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QuotePiece:
    """One piece of the line between two double quotes.

    ``quoted`` pieces hold one variable (``role``, None if skipped) or fixed ``text``; outside
    pieces are matched by ``pattern`` (named groups for their roles), or equal ``text``.
    """

    index: int
    quoted: bool
    role: str | None = None
    text: str | None = None  # a quoted literal, or an outside piece of literal text only
    pattern: str | None = None
    roles: tuple[str, ...] = ()
    shortcuts: tuple[tuple[str, pl.Expr], ...] = ()  # role -> slice, when ``pattern`` validates


@dataclass(frozen=True, slots=True)
class QuotePlan:
    """How to read a template's lines by splitting on quotes; see :func:`build_plan`.

    Pieces come either from a line (:meth:`pieces_of_lines`) or straight from a block of bytes
    (:meth:`read_pieces`, polars' CSV reader with ``"`` as separator: one multi-threaded pass
    that replaces both the line split and the quote split).
    """

    quotes: int
    segments: tuple[QuotePiece, ...]
    # Expressions built once per plan: building the ~60 of a block's query in Python cost about
    # as much as running it on a small block, holding the GIL the aggregator needs meanwhile.
    _built: dict[object, Any] = field(init=False, default_factory=dict, compare=False, repr=False)

    def _once(self, key: object, build: Callable[[], T]) -> T:
        """``build()``, worked out the first time ``key`` is asked for (expressions are immutable)."""
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def build(self) -> None:
        """Build now every expression :meth:`lazy`, :meth:`line_of_pieces` and :attr:`roles`
        build on first use (no query runs): see :func:`botguard.logs.text.build_expressions`."""
        for long_lines in (False, True):
            self._once(("lazy", long_lines), lambda: self._lazy_steps(long_lines))  # noqa: B023 (called at once)
        self.line_of_pieces()
        _ = self.roles

    @property
    def roles(self) -> tuple[str, ...]:
        """The role columns :meth:`lazy` produces."""
        return self._once("roles", lambda: tuple(c.meta.output_name() for c in self._columns()))

    @property
    def dashed(self) -> tuple[str, ...]:
        """The roles :meth:`lazy` already gives as :func:`~botguard.logs._columns.dash_to_empty`'s
        (the quoted headers of :data:`~botguard.logs._columns.DASHED`)."""
        return tuple(s.role for s in self.segments if s.quoted and s.role in DASHED)

    @property
    def width(self) -> int:
        """Pieces read from a block: the template's, a few appended fields, one overflow marker."""
        return self.quotes + 1 + EXTRA_PIECES

    def pieces_of_lines(self) -> pl.Expr:
        """A struct of the pieces ``_s0``.. of column ``line`` (missing pieces are null)."""
        names = [f"_s{i}" for i in range(self.width)]
        return pl.col("line").str.split_exact('"', self.width - 1).struct.rename_fields(names)

    def read_pieces(self, data: bytes) -> pl.DataFrame | None:
        """The pieces of every line of ``data`` (which ends with a newline), or None when
        ``data`` is not UTF-8 (the reader checks that as it reads, so valid blocks, nearly all,
        pay no separate pass; the caller escapes the odd bytes and reads again).

        Every line gets a sentinel (0x1F, which cannot occur otherwise: the line reader's policy
        turns raw 0x1F into U+FFFD, and so does this) before its newline, so its last piece is
        never empty: a null piece always means "absent", and :meth:`line_of_pieces` can tell
        whether it saw the whole line.
        The reader splits rows on newlines only (no quoting, no comments; a lone CR stays in its
        line), which the block-vs-lines contract test checks on the garbage corpora.
        """
        if b"\x1f" in data:  # the same text as the line reader gives (see readers.split_lines)
            data = data.replace(b"\x1f", "\ufffd".encode())
        try:
            return pl.read_csv(
                io.BytesIO(data.replace(b"\n", SENTINEL.encode() + b"\n")),
                has_header=False,
                separator='"',
                quote_char=None,
                schema={f"_s{i}": pl.String for i in range(self.width)},
                missing_columns="insert",
                extra_columns="ignore",
                truncate_ragged_lines=True,
                encoding="utf8",
                raise_if_empty=False,
            )
        except pl.exceptions.ComputeError:
            if escape_raw_bytes(data) is data:  # valid UTF-8: the error is another one
                raise
            return None

    def line_of_pieces(self) -> pl.Expr:
        """The original line from block pieces, or null when the pieces do not hold all of it.

        Rejoin on quotes; pieces after the real last one are null and only add quotes after
        the sentinel, which are stripped with it. No sentinel means the line had more quotes
        than pieces read: the caller then takes the text from a plain line split.
        """
        return self._once("line", self._line_of_pieces)

    def _line_of_pieces(self) -> pl.Expr:
        joined = pl.concat_str([pl.col(f"_s{i}").fill_null("") for i in range(self.width)], separator='"')
        trimmed = joined.str.strip_chars_end('"')
        return pl.when(trimmed.str.ends_with(SENTINEL)).then(
            trimmed.str.strip_suffix(SENTINEL).str.strip_suffix("\r")
        )

    def lazy(self, frame: pl.LazyFrame, *, long_lines: bool = True) -> pl.LazyFrame:
        """The role columns and ``_ok`` (False: leave the row to the regex) from the pieces.

        ``long_lines=False`` says the caller knows no line is near :data:`MAX_LINE_BYTES`
        (:func:`~botguard.logs._malformed.short_lines`), so the per-row size check is left out.
        """
        groups, columns = self._once(("lazy", long_lines), lambda: self._lazy_steps(long_lines))
        lazy = frame.with_columns(groups) if groups else frame
        return lazy.with_columns(columns)

    def _lazy_steps(self, long_lines: bool) -> tuple[list[pl.Expr], list[pl.Expr]]:
        groups = [
            pl.col(f"_s{s.index}").fill_null("").str.extract_groups(s.pattern).alias(f"_g{s.index}")
            for s in self.segments
            if s.pattern is not None and s.roles
        ]
        return groups, [*self._columns(), pl.all_horizontal(self._checks(long_lines)).alias("_ok")]

    def _checks(self, long_lines: bool) -> list[pl.Expr]:
        # The piece after the template's last quote exists iff the line has enough quotes;
        # before it, a null piece is an empty one (e.g. an empty request "").
        last, after = pl.col(f"_s{self.quotes}"), pl.col(f"_s{self.quotes + 1}")
        # ... and if it is empty the line must end there (a quote right after is not a field).
        checks: list[pl.Expr] = [last.is_not_null(), (last != "") | after.is_null()]
        if long_lines:  # long lines go to the regex path, which rejects them exactly (too_long)
            sizes = [pl.col(f"_s{i}").str.len_bytes().fill_null(0) for i in range(self.width)]
            size = pl.sum_horizontal(sizes)
            checks.append(size + self.width <= MAX_LINE_BYTES)
        for s in self.segments:
            col = pl.col(f"_s{s.index}").fill_null("")
            if s.quoted:
                # A value ending in a backslash means its closing quote was escaped: not ours.
                # (A null piece is an empty one: filling the answer is cheaper than the text.)
                piece = pl.col(f"_s{s.index}")
                checks.append((~piece.str.ends_with("\\")).fill_null(True))
                if s.text is not None:
                    checks.append((piece == s.text).fill_null(s.text == ""))
            elif s.roles:
                checks.append(pl.col(f"_g{s.index}").struct.field(s.roles[0]).is_not_null())
            elif s.text is not None:
                # Literal text between quotes (combined's " " between referer and agent): an
                # equality, a third of the anchored pattern's cost.
                checks.append(col == s.text)
            elif s.pattern is not None:
                # Leniency (last piece): fields appended after the template are ignored.
                # With shortcuts, this groupless match is what makes the slices valid.
                checks.append(col.str.contains(s.pattern))
        return checks

    def _columns(self) -> list[pl.Expr]:
        cols: list[pl.Expr] = []
        for s in self.segments:
            if s.quoted and s.role is not None:
                piece = pl.col(f"_s{s.index}")  # null: an empty field
                value = dash_to_empty(piece, null_too=True) if s.role in DASHED else piece.fill_null("")
                cols.append(value.alias(s.role))
            cols.extend(pl.col(f"_g{s.index}").struct.field(role).alias(role) for role in s.roles)
            cols.extend(shortcut.alias(role) for role, shortcut in s.shortcuts)
        return cols


def build_plan(tokens: list[str | Variable]) -> QuotePlan | None:
    """The quote plan of a tokenized template, or None when it does not qualify."""
    pieces = _split_on_quotes(tokens)
    if len(pieces) < 3:
        return None
    segments: list[QuotePiece] = []
    seen: set[str] = set()
    for index, piece in enumerate(pieces):
        quoted = index % 2 == 1
        roles = [t.role for t in piece if isinstance(t, Variable) and t.role is not None]
        if seen & set(roles) or len(roles) != len(set(roles)):
            return None  # a role logged twice: leave it to the regex, which keeps the first
        seen |= set(roles)
        if quoted:
            segment = _quoted_segment(index, piece)
            if segment is None:
                return None
        else:
            segment = _outside_segment(index, piece, first=index == 0, last=index == len(pieces) - 1)
        segments.append(segment)
    return QuotePlan(len(pieces) - 1, tuple(segments))


def _split_on_quotes(tokens: list[str | Variable]) -> list[list[str | Variable]]:
    pieces: list[list[str | Variable]] = [[]]
    for token in tokens:
        if isinstance(token, Variable):
            pieces[-1].append(token)
            continue
        for i, text in enumerate(token.split('"')):
            if i:
                pieces.append([])
            if text:
                pieces[-1].append(text)
    return pieces


def _quoted_segment(index: int, piece: list[str | Variable]) -> QuotePiece | None:
    if not piece:
        return QuotePiece(index, True, text="")
    if len(piece) == 1 and isinstance(piece[0], Variable):
        return QuotePiece(index, True, role=piece[0].role)
    if all(isinstance(t, str) for t in piece):
        return QuotePiece(index, True, text="".join(piece))  # type: ignore[arg-type]
    return None


def _outside_segment(index: int, piece: list[str | Variable], *, first: bool, last: bool) -> QuotePiece:
    """An anchored pattern for an unquoted piece; the last one tolerates appended fields."""
    if last and not piece:
        # Nothing after the template's last quote: the line ends there or continues after
        # whitespace (appended fields).
        return QuotePiece(index, False, pattern="^" + TAIL)
    parts = ["^"]
    plain = ["^"]  # the same without groups, widths fixed where a shortcut relies on them
    roles: list[str] = []
    shortcuts: list[tuple[str, pl.Expr]] = []
    col = pl.col(f"_s{index}").fill_null("")
    for i, token in enumerate(piece):
        if isinstance(token, str):
            parts.append(re.escape(token))
            plain.append(re.escape(token))
            continue
        following = piece[i + 1] if i + 1 < len(piece) else None
        stop = following[0] if isinstance(following, str) else ('"' if not last else None)
        # A value ending the line stops before the sentinel too.
        pattern = value_pattern(token, stop) if stop is not None else r"[^\s\x1f]*"
        if token.role is None:
            parts.append(f"(?:{pattern})")
            plain.append(f"(?:{pattern})")
            continue
        roles.append(token.role)
        parts.append(f"(?P<{token.role}>{pattern})")
        shortcut = _shortcut(col, piece, i, stop, last)
        if shortcut is not None:
            shortcuts.append((token.role, shortcut[0]))
            plain.append(shortcut[1])
        else:
            plain.append(f"(?:{pattern})")
    parts.append(TAIL if last else "$")
    plain.append(TAIL if last else "$")
    if not last and all(isinstance(token, str) for token in piece):
        return QuotePiece(index, False, text="".join(piece), pattern="".join(parts))  # type: ignore[arg-type]
    if len(shortcuts) == len(roles) and roles:
        return QuotePiece(index, False, pattern="".join(plain), shortcuts=tuple(shortcuts))
    return QuotePiece(index, False, pattern="".join(parts), roles=tuple(roles))


def _shortcut(
    col: pl.Expr, piece: list[str | Variable], i: int, stop: str | None, last: bool
) -> tuple[pl.Expr, str] | None:
    """A cheap slice that reads variable ``i`` of a validated piece, and its validation pattern.

    Two shapes cover the built-in formats: a value at the very start, ending at the next
    literal (``$remote_addr ``), and a fixed-width value at the very end (``[$time_local] ``).
    """
    var = piece[i]
    assert isinstance(var, Variable)
    if stop is None or stop == '"':
        return None
    cls = f"[^{re.escape(stop)}]"
    if i == 0:
        return _head_to(col, stop), f"{cls}*"
    width = FIXED_WIDTHS.get(var.role or "")
    tail = piece[i + 1] if i + 1 < len(piece) else None
    if width and i == len(piece) - 2 and isinstance(tail, str) and not last:
        return col.str.slice(-(len(tail) + width), width), f"{cls}{{{width}}}"
    return None


def _head_to(col: pl.Expr, stop: str) -> pl.Expr:
    """The text of ``col`` before its first ``stop``, sliced in the unit ``str.find`` counts in.

    Slicing characters at a byte offset (or bytes at a character offset) cuts a value with
    non-ASCII text in the wrong place, and a byte slice inside a character is invalid UTF-8.
    """
    at = col.str.find(stop, literal=True)
    if find_counts_bytes():
        return col.cast(pl.Binary).bin.head(at).cast(pl.String)
    return col.str.head(at)


def find_counts_bytes() -> bool:
    """Whether polars' ``str.find`` gives byte offsets (before 2.2) or character offsets (2.2 on).

    Read from the version number, not asked of polars with a query: the built-in formats' plans
    are built at import, and a query there would start polars' thread pool in every process that
    imports them, the resident server too, whose forked children then wait on a pool whose
    threads the fork did not copy (tests/logs/test_quoteplan.py checks both).
    """
    major, minor = (int(part) for part in re.findall(r"\d+", pl.__version__)[:2])
    return (major, minor) < (2, 2)
