"""Pattern compilation and URL-to-path extraction, matching Google's reference exactly.

A rule pattern matches a path when it matches a *prefix* of it: ``*`` matches any run of bytes
and ``$`` anchors the end only as the last character. The reference decides in
O(len(path) * len(pattern)) with a position-set DP; we compile to Python ``re`` using only
atomic groups around lazy ``.*?`` so no pattern can backtrack catastrophically (the leftmost
placement of each literal segment is always the best one, so giving up the others is exact).

For a whole group, all rules become one alternation ordered by Google's precedence (longer
pattern first, allow before disallow on ties): the first alternative that matches *is* the
deciding rule, so one C-level regex call answers "allowed?" and "which line?".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from operator import itemgetter

from botguard.robots.records import ALLOW, Rule

_PATH_START = re.compile(r"[/?;]")


def path_params_query(url: str) -> str:
    """The path, params and query of ``url``, as Google's ``GetPathParamsQuery`` extracts them.

    No normalisation: no decoding, no encoding, no dot-segment removal; the case is kept.
    ``""`` -> ``/``, ``a/b`` -> ``/b``, ``example.com?a`` -> ``/?a``, ``//a/b/c`` -> ``/b/c``.

    >>> path_params_query("http://example.com/a/b?c=d#frag")
    '/a/b?c=d'
    """
    if url[:1] == "/" and url[1:2] != "/":
        if "#" not in url and "\x00" not in url:
            return url  # the common case: a clean request target taken from an access log
        path = url
    else:
        path = _slow_path(url)
    hash_pos = path.find("#")
    if hash_pos >= 0:
        path = path[:hash_pos]
    nul = path.find("\x00")
    # The reference keeps the path as a C string, so a NUL byte ends it.
    return path if nul < 0 else path[:nul]


def _slow_path(url: str) -> str:
    search_start = 2 if url[:2] == "//" else 0
    if url.startswith(("https://", "http://")):
        protocol_end = url.find("://") + 3  # no "/?;" can come before this "://"
    else:
        early = _PATH_START.search(url, search_start)
        protocol_end = url.find("://", search_start)
        if protocol_end < 0 or (early is not None and early.start() < protocol_end):
            protocol_end = search_start  # "://" after the path starts is not a scheme separator
        else:
            protocol_end += 3
    start_match = _PATH_START.search(url, protocol_end)
    if start_match is None:
        return "/"
    start = start_match.start()
    hash_pos = url.find("#", search_start)
    if 0 <= hash_pos < start:
        return "/"
    end = hash_pos if hash_pos >= 0 else len(url)
    path = url[start:end]
    return path if path[0] == "/" else "/" + path


def pattern_regex(pattern: str) -> str:
    """A backtracking-safe regex source for one normalised pattern (prefix match semantics)."""
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    segments = pattern.split("*")
    parts = [re.escape(segments[0])]
    middle, last = segments[1:-1], segments[-1]
    parts.extend(f"(?>.*?{re.escape(segment)})" for segment in middle)
    if len(segments) > 1:
        if anchored:
            parts.append(f"(?>.*{re.escape(last)}\\Z)" if last else "")
            return "".join(parts) + ("" if last else "(?>.*)")
        parts.append(f"(?>.*?{re.escape(last)})")
    elif anchored:
        parts.append("\\Z")
    return "".join(parts)


def index_html_fallback(pattern: str) -> str | None:
    """Google's index.htm(l) rule: ``Allow: /d/index.html`` also allows ``/d/`` exactly.

    An allow pattern whose last ``/`` segment starts with ``/index.htm`` is retried, when it
    does not match, as ``<prefix up to that />$`` (priority len(prefix) + 1).
    """
    slash = pattern.rfind("/")
    if slash < 0 or not pattern.startswith("/index.htm", slash):
        return None
    return pattern[: slash + 1] + "$"


#: A node holding more entries than this is split by the next literal character, so a huge
#: robots.txt (thousands of rules for one agent) costs a few small regex calls per path instead
#: of one call trying every rule. Entries that cannot be split (their literal prefix ends at the
#: node: ``/*?filter=a``, ``/*?filter=b``...) are indexed by substring instead (``_GramIndex``).
_BUCKET = 48
_MAX_DEPTH = 256
#: Compiling a regex costs ~25 us per rule (sre's compiler is Python), a check by hand ~0.3 us
#: per rule: a node answers its first checks by hand and compiles once it has proved hot.
COMPILE_AFTER = 32
#: The longest substring a rule is filed under: short keys keep a path's lookups few.
_GRAM = 3

#: A trie entry: (precedence rank, pattern, length of its literal prefix).
_Entry = tuple[int, str, int]
#: A pattern as :func:`segments_match` takes it: (first, middle, last, anchored, has_star).
Split = tuple[str, tuple[str, ...], str, bool, bool]


def _literal_prefix_len(pattern: str) -> int:
    """How many leading characters every matching path must have literally."""
    star = pattern.find("*")
    end = len(pattern) if star < 0 else star
    if star < 0 and pattern.endswith("$"):
        end -= 1
    return end


def segment_matcher(pattern: str) -> Split:
    """``pattern`` split for :func:`segments_match`: (first, middle, last, anchored, has_star)."""
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    segments = pattern.split("*")
    return segments[0], tuple(segments[1:-1]), segments[-1], anchored, len(segments) > 1


def segments_match(
    path: str, first: str, middle: tuple[str, ...], last: str, anchored: bool, has_star: bool
) -> bool:
    """Prefix match without regex: each literal segment at its leftmost place (always optimal)."""
    if not path.startswith(first):
        return False
    if not has_star:
        return len(path) == len(first) if anchored else True
    pos = len(first)
    for segment in middle:
        found = path.find(segment, pos)
        if found < 0:
            return False
        pos = found + len(segment)
    if anchored:
        return len(path) - len(last) >= pos and path.endswith(last)
    return path.find(last, pos) >= 0


def _grams(split: Split) -> set[str]:
    """Substrings every path the pattern matches contains, past its literal prefix: each
    ``*``-separated segment's 3-character runs (a shorter segment whole)."""
    _, middle, last, _, has_star = split
    grams: set[str] = set()
    for segment in (*middle, last) if has_star else ():
        if len(segment) <= _GRAM:
            grams.update((segment,) if segment else ())
        else:
            grams.update(segment[i : i + _GRAM] for i in range(len(segment) - _GRAM + 1))
    return grams


class _GramIndex:
    """Many entries sharing one literal prefix, each filed under the rarest substring a path
    must contain to match it: a path is checked only against the entries whose substring it
    contains (in precedence order, the first match decides), not against all of them.

    Entries with no such substring (``/a*``, ``/a$``) are checked for every path.
    """

    __slots__ = ("_always", "_by_gram", "_sizes")

    def __init__(self, splits: list[tuple[int, Split]]) -> None:
        grams = [_grams(split) for _, split in splits]
        counts = Counter(gram for entry_grams in grams for gram in entry_grams)
        self._always: list[tuple[int, Split]] = []
        self._by_gram: dict[str, list[tuple[int, Split]]] = {}
        for entry, entry_grams in zip(splits, grams, strict=True):
            if entry_grams:
                rarest = min(sorted(entry_grams), key=counts.__getitem__)
                self._by_gram.setdefault(rarest, []).append(entry)
            else:
                self._always.append(entry)
        self._sizes = sorted({len(gram) for gram in self._by_gram})

    def match(self, path: str) -> int | None:
        """The precedence rank of the best entry that matches ``path``, or None."""
        found = list(self._always)
        for size in self._sizes:
            for gram in {path[i : i + size] for i in range(len(path) - size + 1)}:
                found += self._by_gram.get(gram, ())
        found.sort(key=itemgetter(0))
        for rank, split in found:
            if segments_match(path, *split):
                return rank
        return None


class _Node:
    """A trie node: entries whose literal prefix ends here (or that were not split further)
    and children keyed by the next literal character. Its regex compiles once it is hot; a
    node with too many entries for one regex indexes them by substring instead."""

    __slots__ = ("_calls", "_grams", "_match", "_split", "children", "entries")

    def __init__(self, entries: list[_Entry], depth: int) -> None:
        self.children: dict[str, _Node] | None = None
        if len(entries) > _BUCKET and depth < _MAX_DEPTH:
            here: list[_Entry] = []
            by_char: dict[str, list[_Entry]] = {}
            for entry in entries:
                if entry[2] > depth:
                    by_char.setdefault(entry[1][depth], []).append(entry)
                else:
                    here.append(entry)
            if by_char:
                self.children = {ch: _Node(sub, depth + 1) for ch, sub in by_char.items()}
                entries = here
        self.entries = entries
        self._match: Callable[[str], re.Match[str] | None] | None = None
        self._split = [(e[0], segment_matcher(e[1])) for e in entries]
        self._grams = _GramIndex(self._split) if len(entries) > _BUCKET else None
        self._calls = 0

    def compile(self) -> None:
        """Build the ordered alternation now (the first matching alternative is the best)."""
        if self.entries and self._match is None and self._grams is None:
            source = "|".join(f"({pattern_regex(e[1])})" for e in self.entries)
            self._match = re.compile(source, re.DOTALL).match

    def match(self, path: str) -> int | None:
        """The precedence rank of the first entry here that matches ``path``, or None."""
        matcher = self._match
        if matcher is not None:
            m = matcher(path)
            return None if m is None else self.entries[m.lastindex - 1][0]  # type: ignore[operator]
        if self._grams is not None:
            return self._grams.match(path)
        self._calls += 1
        if self._calls > COMPILE_AFTER:
            self.compile()
        for rank, split in self._split:
            if segments_match(path, *split):
                return rank
        return None


class GroupMatcher:
    """The merged rules one agent obeys, in Google's precedence order.

    ``decide(path)`` returns the deciding :class:`Rule` or None (allowed by default). Rules with
    an empty pattern have priority 0 and never decide (an empty ``Disallow:`` allows all).
    """

    __slots__ = ("_allow_at", "_any_disallow", "_flat", "_patterns", "_root", "_rules")

    def __init__(self, rules: Sequence[Rule]) -> None:
        entries: list[tuple[int, int, str, Rule]] = []
        for rule in rules:
            if not rule.pattern:
                continue
            tie = 0 if rule.directive == ALLOW else 1
            entries.append((-len(rule.pattern), tie, rule.pattern, rule))
            if rule.directive == ALLOW:
                fallback = index_html_fallback(rule.pattern)
                if fallback is not None:
                    entries.append((-len(fallback), 0, fallback, rule))
        # Precedence: longest pattern first; on equal length allow wins; then file order
        # (the reference keeps the earliest line among equals, and so do we).
        entries.sort(key=lambda e: (e[0], e[1]))
        self._rules: tuple[Rule, ...] = tuple(e[3] for e in entries)
        self._patterns: tuple[str, ...] = tuple(e[2] for e in entries)
        self._any_disallow = any(r.directive != ALLOW for r in self._rules)
        self._root = _Node([(rank, e[2], _literal_prefix_len(e[2])) for rank, e in enumerate(entries)], 0)
        self._flat = self._root.children is None  # a typical robots.txt: one node
        self._allow_at = tuple(r.directive == ALLOW for r in self._rules)  # rank -> verdict

    @property
    def precedence(self) -> tuple[tuple[str, Rule], ...]:
        """(pattern, rule) in precedence order: the first whose pattern matches a path decides it.

        An ``Allow: /d/index.html`` rule appears twice, the second time with its ``/d/$`` fallback.
        """
        return tuple(zip(self._patterns, self._rules, strict=True))

    @property
    def any_disallow(self) -> bool:
        """Whether any rule can forbid a path (without one, every path is allowed)."""
        return self._any_disallow

    def compile(self) -> GroupMatcher:
        """Compile every node's regex now (tests use it to exercise both matching paths)."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            node.compile()
            stack.extend((node.children or {}).values())
        return self

    def _rank(self, path: str) -> int | None:
        node: _Node | None = self._root
        if self._flat:
            return node.match(path)  # type: ignore[union-attr]
        best: int | None = None
        depth, size = 0, len(path)
        while node is not None:
            rank = node.match(path)
            if rank is not None and (best is None or rank < best):
                best = rank
            if node.children is None or depth >= size:
                break
            node = node.children.get(path[depth])
            depth += 1
        return best

    def rank(self, path: str) -> int | None:
        """The index in :attr:`precedence` of the entry that decides ``path``, or None."""
        return self._rank(path)

    def decide(self, path: str) -> Rule | None:
        """The deciding rule for ``path`` (already extracted), or None."""
        rank = self._rank(path)
        return None if rank is None else self._rules[rank]

    def decide_allowed(self, path: str) -> bool:
        """Only the verdict: True when allowed."""
        if not self._any_disallow:
            return True
        rank = self._rank(path)
        return rank is None or self._allow_at[rank]

    def allowed_many(self, paths: Sequence[str]) -> list[bool]:
        """``decide_allowed`` over many paths; compiles first, since a batch is hot by definition."""
        if not self._any_disallow:
            return [True] * len(paths)
        if self._flat and len(paths) > COMPILE_AFTER:
            self._root.compile()  # trie nodes of huge files still warm up one by one
        match = self._root._match
        if not self._flat or match is None:
            return [self.decide_allowed(p) for p in paths]
        allow_at, out = (True,) + self._allow_at, []
        for path in paths:
            m = match(path)
            out.append(m is None or allow_at[m.lastindex])  # type: ignore[index]
        return out
