"""Compile an nginx ``log_format`` string into regular expressions that polars runs per batch.

Why a compiler: GoAccess-style ``--log-format`` lets users describe any text access log with the
same ``$variable`` syntax their web server config uses, and the built-in formats (combined,
common, vhost_combined) are just templates compiled the same way, so they share one tested code
path.

A template is a sequence of literal text and ``$variables``. Each known variable fills one of our
columns (its *role*); unknown ones are matched and skipped. The value pattern of a variable is
derived from the literal that follows it: ``[$time_local]`` matches ``[^\\]]*``, a quoted
``"$http_user_agent"`` matches up to the closing quote. Two regexes are built:

- ``fast``: quoted values cannot contain ``\\"``; correct for every line without an escaped
  quote, and it rejects (rather than mis-splits) the lines with one.
- ``slow``: quoted values understand backslash escapes (``\\"`` inside a UA, Apache style); only
  run on the rows the fast regex rejected, so its cost is paid by the rare odd line.
- ``lenient``: quoted values may hold bare quotes (writers other than nginx and Apache: some
  CDNs, proxies, hand-made logs); only run on the rows both others rejected. See
  :func:`_lenient_pattern` for how such a line is split.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from botguard.errors import UsageError

# Variable name -> role (our column, or a request part the finisher composes into one).
# One table, so adding a variable is one line. Variables not listed are skipped fields.
VARIABLE_ROLES: dict[str, str] = {
    "remote_addr": "ip",
    "time_local": "time_local",
    "time_iso8601": "time_iso8601",
    "msec": "msec",
    "request": "request",
    "request_method": "method",
    "request_uri": "request_uri",
    "uri": "uri",
    "document_uri": "uri",
    "args": "args",
    "query_string": "args",
    "server_protocol": "protocol",
    "status": "status",
    "body_bytes_sent": "body_bytes",
    "bytes_sent": "bytes_sent",
    "http_referer": "referer",
    "http_user_agent": "user_agent",
    "host": "host",
    "http_host": "http_host",
    "server_name": "server_name",
}

# Value patterns for roles whose values have a known shape (both regexes). Others are derived
# from the following literal. Status may be logged as "-" by some servers for aborted requests.
SHAPED_ROLES: dict[str, str] = {
    "status": r"[0-9]{3}|-",
    "body_bytes": r"[0-9]+|-",
    "bytes_sent": r"[0-9]+|-",
}

TIME_ROLES = ("time_local", "time_iso8601", "msec")
HOST_ROLES = ("host", "http_host", "server_name")  # in order of preference
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


@dataclass(frozen=True, slots=True)
class Variable:
    """One ``$name`` in a template; ``role`` is None for skipped variables."""

    name: str
    role: str | None


@dataclass(frozen=True, slots=True)
class Lead:
    """How every line a template reads begins, checked without a regex: ``head``, then for each
    literal of ``steps`` a value (none of whose characters is the literal's first) and the
    literal.

    Why: format detection parses a sample with each format that could still win, and a parse
    costs ~40 polars queries whatever it reads (~12 ms in a served scan's child); a format none
    of whose sample lines begin so reads none of them, and is not parsed (vhost_combined on
    combined lines: the fourth field runs into the time's ``+0000]``). It must be a necessary
    condition for every path that reads a line: the three regexes begin with exactly these
    literals and ``[^c]*`` classes, and the quote plan's first piece (the text before the first
    quote) is validated by a pattern that does too (see :func:`lead_of`). Only literals and
    single-character negated classes are used, which Python and polars' regex engine read alike.
    """

    head: str = ""
    steps: tuple[str, ...] = ()

    def begins(self, line: str) -> bool:
        """Whether ``line`` begins as every line the template reads does.

        A value before a literal whose first character is ``c`` matches ``[^c]*``: it ends at
        the first ``c`` after it starts, where the literal must follow (no other split exists).

        Examples:
            >>> lead = Lead("", (" ", " ["))
            >>> lead.begins("1.2.3.4 - [x"), lead.begins("1.2.3.4 - - [x"), lead.begins("a  [")
            (True, False, True)
        """
        if not line.startswith(self.head):
            return False
        at = len(self.head)
        for literal in self.steps:
            at = line.find(literal[0], at)
            if at < 0 or not line.startswith(literal, at):
                return False
            at += len(literal)
        return True


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled log_format: its text, the captured roles in group order, and both regexes;
    ``lead``: how every line they (or the quote plan) read begins."""

    text: str
    roles: tuple[str, ...]
    fast: str
    slow: str
    lenient: str
    lead: Lead = Lead()

    @property
    def has_quotes(self) -> bool:
        """Whether the slow (escape-aware) regex differs from the fast one."""
        return self.fast != self.slow


def tokenize(text: str) -> list[str | Variable]:
    """Split a log_format string into literal strings and variables."""
    tokens: list[str | Variable] = []
    pos = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > pos:
            tokens.append(text[pos : match.start()])
        name = match.group(1) or match.group(2)
        tokens.append(Variable(name, _role(name)))
        pos = match.end()
    if pos < len(text):
        tokens.append(text[pos:])
    return tokens


def _role(name: str) -> str | None:
    if name in VARIABLE_ROLES:
        return VARIABLE_ROLES[name]
    return None  # $upstream_*, $request_time, $http_x_forwarded_for, ... : matched and skipped


def compile_template(text: str) -> Template:
    """Compile ``text`` or raise :class:`UsageError` with a one-line reason.

    Examples:
        >>> t = compile_template('$remote_addr [$time_local] "$request" $status')
        >>> t.roles
        ('ip', 'time_local', 'request', 'status')
    """
    tokens = tokenize(text)
    _check(text, tokens)
    roles: list[str] = []
    fast: list[str] = ["^"]
    slow: list[str] = ["^"]
    lenient: list[str] = ["^"]
    stops = [_stop(tokens, index) for index in range(len(tokens))]
    last_quoted = max((i for i, t in enumerate(tokens) if _quoted(t, stops[i])), default=-1)
    for index, token in enumerate(tokens):
        if isinstance(token, str):
            for parts in (fast, slow, lenient):
                parts.append(re.escape(token))
            continue
        fast_pat, slow_pat = _value_patterns(token, stops[index])
        quoted = _quoted(token, stops[index])
        lenient_pat = _lenient_pattern(last=index == last_quoted) if quoted else fast_pat
        if token.role is not None and token.role not in roles:
            roles.append(token.role)
            fast.append(f"(?P<{token.role}>{fast_pat})")
            slow.append(f"(?P<{token.role}>{slow_pat})")
            lenient.append(f"(?P<{token.role}>{lenient_pat})")
        else:
            fast.append(f"(?:{fast_pat})")
            slow.append(f"(?:{slow_pat})")
            lenient.append(f"(?:{lenient_pat})")
    # Leniency: servers often append fields to a standard format ($request_time, an
    # X-Forwarded-For); anything after a whitespace boundary at the end is ignored.
    tail = r"(?:$|\s)"
    regexes = ("".join(fast) + tail, "".join(slow) + tail, "".join(lenient) + tail)
    return Template(text, tuple(roles), *regexes, lead_of(tokens))


def lead_of(tokens: list[str | Variable]) -> Lead:
    """The :class:`Lead` of a template: its tokens up to the first quote, as long as each
    variable among them is a ``[^c]*`` value (not a shaped one, and followed by a literal
    starting with ``c``, not a quote). The regexes above put exactly those literals and
    classes first (``re.escape`` of each literal; :func:`_value_patterns`' class for each
    variable, in fast, slow and lenient alike: it is quoted, and lenient, only before a quote);
    the quote plan's first piece is the same tokens cut at the quote, each variable's pattern
    the same class (or a fixed-width one of it, see ``_quoteplan._shortcut``).

    Examples:
        >>> lead_of(tokenize('$host $remote_addr [$time_local] "$request"'))
        Lead(head='', steps=(' ', ' [', '] '))
        >>> lead_of(tokenize('[$time_local] $status $remote_addr "$request"'))
        Lead(head='[', steps=('] ',))
    """
    head = ""
    steps: list[str] = []
    for index, token in enumerate(tokens):
        if isinstance(token, str):
            before = token.split('"', 1)[0]
            if index == 0:
                head = before
            else:
                steps.append(before)
            if '"' in token:
                break
            continue
        stop = _stop(tokens, index)
        if token.role in SHAPED_ROLES or stop is None or stop == '"':
            break
    return Lead(head, tuple(steps))


def _stop(tokens: list[str | Variable], index: int) -> str | None:
    """The first character of the literal after token ``index`` (None: a variable or the end)."""
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    return following[0] if isinstance(following, str) and following else None


def _quoted(token: str | Variable, stop: str | None) -> bool:
    """Whether ``token`` is a variable whose value runs to a quote (a quoted field)."""
    return isinstance(token, Variable) and stop == '"' and token.role not in SHAPED_ROLES


def _lenient_pattern(*, last: bool) -> str:
    """A quoted value that may hold bare quotes, for the lines no stricter pattern reads.

    Why: writers other than nginx and Apache (some CDNs and proxies, hand-made logs) do not
    escape a quote inside a user agent or referer; read strictly, such a line is malformed, and
    detection took a file of them for ``common``, which drops every agent and referer. The
    split: every quoted value but the last ends at the first quote after which the rest of the
    line still fits the template (a referer ``http://a/?q="x"`` ends at its own closing quote,
    because ``" "`` follows it); the last quoted value (combined's user agent) runs to the last
    quote that the end of the line (or appended fields) may follow. A line the rule still
    cannot split stays malformed; as in the escape-aware pattern, ``\\"`` is never a closing
    quote. (GoAccess, in contrast, ends each quoted field at its first
    quote and reads on from there: a cut agent, or a referer's rest taken for the agent.)
    """
    # A backslash pair is taken whole: an escaped quote never ends a value here either.
    return r"(?:[^\\]|\\.)*" + ("" if last else "?")


def _value_patterns(var: Variable, stop: str | None) -> tuple[str, str]:
    """The (fast, slow) regex for one variable's value, given the next literal character."""
    if var.role in SHAPED_ROLES:
        pattern = SHAPED_ROLES[var.role]
        return pattern, pattern
    if stop is None:  # last token of the template: a value runs to the next whitespace
        return r"\S*", r"\S*"
    if stop == '"':
        # Fast: backslash pairs are fine (\xHH, \\) but an escaped quote fails the match, so
        # lines holding one go to the slow pattern instead of being split at the wrong quote.
        return r'(?:[^"\\]|\\[^"])*', r'(?:[^"\\]|\\.)*'
    cls = re.escape(stop)
    return f"[^{cls}]*", f"[^{cls}]*"


def value_pattern(var: Variable, stop: str | None) -> str:
    """The pattern of a variable's value inside a piece of line that holds no quotes."""
    return r'[^"]*' if stop == '"' and var.role not in SHAPED_ROLES else _value_patterns(var, stop)[0]


def _check(text: str, tokens: list[str | Variable]) -> None:
    """Reject templates that cannot be parsed unambiguously, with a one-line reason."""
    if not any(isinstance(t, Variable) for t in tokens):
        raise UsageError(f"log format {text!r} has no $variables")
    for left, right in itertools.pairwise(tokens):
        if isinstance(left, Variable) and isinstance(right, Variable):
            raise UsageError(
                f"log format {text!r}: ${left.name} and ${right.name} must be separated by literal text"
            )
    roles = {t.role for t in tokens if isinstance(t, Variable)}
    if "ip" not in roles:
        raise UsageError(f"log format {text!r} needs $remote_addr (the client address)")
    if not roles & set(TIME_ROLES):
        raise UsageError(f"log format {text!r} needs a time: $time_local, $time_iso8601 or $msec")
    if not roles & {"request", "request_uri", "uri"}:
        raise UsageError(f"log format {text!r} needs $request, $request_uri or $uri")
