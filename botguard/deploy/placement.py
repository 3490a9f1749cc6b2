"""Is botguard's include where the server runs it before the site's own rewrites?

Server-level rewrites run in the order they are written, and a site's own can end them:

* nginx: the block rule (``if ($botguard_block) { return 403; }``) and the challenge's rewrite run
  in the server-rewrite phase; a site ``rewrite ... last|break`` or ``break`` (also inside an
  ``if``) written before the include in the same ``server {}`` ends that phase for the requests
  it matches: blocked and challenged clients get the content there.
* Apache: the challenge routing is a mod_rewrite rule; a site ``RewriteRule`` with ``[L]``,
  ``[END]`` or ``[P]`` before the include in the same server or ``<VirtualHost>`` ends the rule
  set for the requests it matches (the block rules are an ``<If>``, which no rewrite skips).

After a deploy the target's own validate command lists the configuration (nginx ``-T`` prints
every file; Apache ``-D DUMP_INCLUDES`` names them, read here) and each such directive is one
warning line with its file and line. A ``return`` or a redirect serves no page, so it is left
alone; an include botguard's files reach through another file is not followed. Nothing here
ever stops a deploy.

While challenge routing fails open (``serve.fail_open``, the default), serve being down sends a
challenged client back to its request by an internal redirect, which a site's internal-only
paths admit: each nginx ``internal`` location in a server that includes the routing, and each
Apache ``RewriteCond`` on ``REDIRECT_STATUS`` in the files listed, is one warning line too.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePath

from botguard.deploy._command import run
from botguard.deploy.records import Target
from botguard.render.challenge import APACHE_FILE, NGINX_SERVER_FILE, routes_back
from botguard.render.records import RuleFile
from botguard.text import printable

__all__ = ["placement_warnings"]

#: Seconds the configuration listing may take (it parses the whole configuration, as validate does).
_TIMEOUT = 60
_NGINX_FILE = re.compile(r"^# configuration file (.+):$", re.M)
_NGINX_TOKEN = re.compile(
    r"""\s+|#[^\n]*|"(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?|[{};]|(?:\$\{[^}\s]*\}|[^\s{};])+"""
)
_APACHE_FILE = re.compile(r"^\s+\((?:\*|\d+)\) (.+)$", re.M)
_APACHE_STOPS = frozenset({"l", "last", "end", "p", "proxy"})
#: Sections that only wrap server-level directives (a ``<Directory>`` rule runs later, per directory).
_APACHE_WRAPPERS = frozenset({"ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection"})


@dataclass
class _Directive:
    """One nginx directive (``children`` None) or block, with the line it starts on."""

    words: list[str]
    line: int
    children: list[_Directive] | None = None


@dataclass
class _Context:
    """A server or ``<VirtualHost>`` context of an Apache file: its first rule that ends the rules."""

    stop: tuple[int, str] | None = None
    sections: list[str] = field(default_factory=list)


def _run(argv: list[str]) -> str:
    try:
        done = run(argv, _TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'" else word


def _nginx_tree(text: str) -> list[_Directive]:
    """The directives and blocks of one nginx file (unbalanced text: what parsed so far)."""
    root: list[_Directive] = []
    stack, line, start = [root], 1, 1
    words: list[str] = []
    for match in _NGINX_TOKEN.finditer(text):
        token = match[0]
        if token[0] in " \t\r\n#":  # a "#" starting a token comments out the rest of the line
            line += token.count("\n")
            continue
        if not words:
            start = line
        if token == ";":
            stack[-1].append(_Directive(words, start))
        elif token == "{":
            node = _Directive(words, start, [])
            stack[-1].append(node)
            stack.append(node.children)  # type: ignore[arg-type]
        elif token == "}":
            if len(stack) > 1:
                stack.pop()
        else:
            words.append(_unquote(token))
            line += token.count("\n")
            continue
        words = []
    return root


def _ends_nginx_rewrites(node: _Directive) -> bool:
    """``rewrite ... last|break``, ``break``, or an ``if`` block holding one."""
    if node.children is not None:
        return node.words[:1] == ["if"] and any(_ends_nginx_rewrites(child) for child in node.children)
    name = node.words[:1]
    return name == ["break"] or (name == ["rewrite"] and node.words[-1] in ("last", "break"))


def _servers(nodes: list[_Directive]) -> Iterator[_Directive]:
    for node in nodes:
        if node.children is not None:
            if node.words == ["server"]:
                yield node
            else:
                yield from _servers(node.children)


def _ours(argument: str, names: tuple[str, ...]) -> bool:
    """An include argument (a path or a glob) that reads one of ``names``."""
    pattern = PurePath(argument).name
    return bool(pattern) and any(fnmatchcase(name, pattern) for name in names)


def _nginx_warnings(target: Target, names: tuple[str, ...], back: bool) -> list[str]:
    dump = _run([*target.validate, "-T"])
    parts = _NGINX_FILE.split(dump)
    out = []
    for path, text in zip(parts[1::2], parts[2::2], strict=False):
        for server in _servers(_nginx_tree(text.removeprefix("\n"))):
            warning = _nginx_server_warning(target, path, server, names)
            out += [] if warning is None else [warning]
            if back and _includes(server, NGINX_SERVER_FILE):
                out += [_opened(target, path, node.line, _nginx_text(node)) for node in _internal(server)]
    return out


def _includes(server: _Directive, name: str) -> bool:
    """Whether ``server`` includes file ``name`` at its own level."""
    return any(_is_include(node, (name,)) for node in server.children or ())


def _is_include(node: _Directive, names: tuple[str, ...]) -> bool:
    """Whether ``node`` is an ``include`` that reads one of ``names``."""
    return node.children is None and node.words[:1] == ["include"] and _ours(node.words[-1], names)


def _internal(block: _Directive) -> Iterator[_Directive]:
    """The ``location`` blocks (nested ones too) that hold ``internal;``."""
    for node in block.children or ():
        if node.children is None:
            continue
        if node.words[:1] == ["location"] and any(c.words == ["internal"] for c in node.children):
            yield node
        yield from _internal(node)


def _opened(target: Target, path: str, line: int, rule: str) -> str:
    return (
        f"{target.name}: {printable(path, 200)}:{line}: `{printable(rule, 120)}` admits internal redirects"
        " only, and while serve is down fail-open sends challenged clients back by one: they can reach it;"
        " set serve.fail_open: false (or guard it by address or password)"
    )


def _nginx_server_warning(
    target: Target, path: str, server: _Directive, names: tuple[str, ...]
) -> str | None:
    """The warning for the first directive of ``server`` that ends its rewrites before botguard's include."""
    stop = None
    for node in server.children or ():
        if _is_include(node, names):
            if stop is None:
                return None
            include, who = f"include {node.words[-1]}", "blocked or challenged clients"
            return _line(target, path, stop.line, _nginx_text(stop), include, "server {}", who, "the include")
        if stop is None and _ends_nginx_rewrites(node):
            stop = node
    return None


def _nginx_text(node: _Directive) -> str:
    return " ".join(node.words) + (" { ... }" if node.children is not None else ";")


def _apache_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, logical line) with ``\\`` continuations joined and comments left out."""
    pending, first = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending:
            first = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical, pending = (pending + stripped).strip(), ""
        if logical and not logical.startswith("#"):
            yield first, logical


def _ends_apache_rewrites(words: list[str]) -> bool:
    """A ``RewriteRule`` that ends the rule set and serves a page (not a redirect, 403 or 410)."""
    if len(words) < 4 or words[0].lower() != "rewriterule" or not words[-1].startswith("["):
        return False
    flags = {flag.strip().lower().partition("=")[0] for flag in words[-1].strip("[]").split(",")}
    return bool(flags & _APACHE_STOPS) and not flags & {"r", "redirect", "f", "forbidden", "g", "gone"}


def _apache_file_warnings(
    target: Target, path: str, lines: list[tuple[int, str]], names: tuple[str, ...]
) -> list[str]:
    contexts, out = [_Context()], []
    for number, logical in lines:
        words = logical.split()
        context = contexts[-1]
        if logical.startswith("</"):
            name = logical[2:].rstrip(">").strip().lower()
            if name == "virtualhost" and len(contexts) > 1:
                contexts.pop()
            elif context.sections:
                context.sections.pop()
        elif logical.startswith("<"):
            name = words[0][1:].rstrip(">").lower()
            if name == "virtualhost":
                contexts.append(_Context())
            else:
                context.sections.append(name)
        elif all(s in _APACHE_WRAPPERS for s in context.sections):
            if words[0].lower() in ("include", "includeoptional") and len(words) > 1:
                if context.stop is not None and _ours(_unquote(words[1]), names):
                    line, rule = context.stop
                    where = "<VirtualHost>" if len(contexts) > 1 else "server configuration"
                    out.append(_line(target, path, line, rule, f"{words[0]} {_unquote(words[1])}", where,
                                     "challenged clients", "the Include"))  # fmt: skip
                    context.stop = None
            elif context.stop is None and _ends_apache_rewrites(words):
                context.stop = (number, logical)
    return out


def _apache_warnings(target: Target, names: tuple[str, ...], back: bool) -> list[str]:
    listing = _run([*target.validate, "-D", "DUMP_INCLUDES"])
    out: list[str] = []
    for path in dict.fromkeys(p.strip() for p in _APACHE_FILE.findall(listing)):
        try:
            lines = list(_apache_lines(Path(path).read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
        out += _apache_file_warnings(target, path, lines, names)
        out += _apache_redirect_guards(target, path, lines) if back else []
    return out


def _apache_redirect_guards(target: Target, path: str, lines: list[tuple[int, str]]) -> list[str]:
    """A warning per ``RewriteCond`` on ``REDIRECT_STATUS`` (a rule for direct requests only) in a
    file that is not botguard's."""
    if Path(path).name == APACHE_FILE:
        return []
    return [
        _opened(target, path, number, logical)
        for number, logical in lines
        if logical.split()[0].lower() == "rewritecond" and "REDIRECT_STATUS" in logical.upper()
    ]


def _line(target: Target, path: str, line: int, directive: str, include: str, where: str, who: str,
          first: str) -> str:  # fmt: skip
    return (
        f"{target.name}: {printable(path, 200)}:{line}: `{printable(directive, 120)}` comes before "
        f"`{printable(include, 200)}` in the same {where}: the requests it rewrites skip botguard's rules "
        f"there ({who} get the content); put {first} first"
    )


def placement_warnings(target: Target, files: tuple[RuleFile, ...]) -> tuple[str, ...]:
    """One line per site rewrite that comes before one of botguard's includes and ends the
    server's rewrite rules (nginx: the ``*_server.conf`` files; Apache: the challenge routing)."""
    if not target.validate:
        return ()
    back = routes_back(files)
    if target.renderer.name == "nginx":
        names = tuple(f.name for f in files if f.name.endswith("_server.conf"))
        return tuple(_nginx_warnings(target, names, back)) if names else ()
    if target.renderer.name == "apache" and any(f.name == APACHE_FILE for f in files):
        return tuple(_apache_warnings(target, (APACHE_FILE,), back))
    return ()
