"""A strict reader of the Cloudflare rules-language subset botguard emits, and an evaluator.

Independent of the renderer (nothing imported from it), so tests can check what an expression
*means*, not how it was built:

* :func:`tokenize` splits an expression into quoted strings, words and ``( ) { }``. A quoted
  string is read as Cloudflare's engine (wirefilter) reads one, only stricter: the escapes are
  ``\\\\`` and ``\\"`` (wirefilter also has ``\\xHH`` and octal, which botguard never writes),
  an unescaped ``"`` ends it, a control character or a missing end quote is an error. Raw
  strings (``r"..."``) and any character outside strings other than ASCII letters, digits,
  ``_ . : / $`` and spaces are errors too.
* :func:`parse` builds an expression tree (``not`` > ``and`` > ``or``), checking every field,
  operator and value type: a user agent that escaped its string would leave words or quotes the
  grammar does not accept, or change the strings the tree holds.
* :func:`evaluate` runs a tree against a request (``lower()`` folds ASCII A-Z only, as
  Cloudflare's does: :func:`lower`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "RulesSyntaxError", "evaluate", "lower", "parse", "strings", "tokenize"]

_WORD = re.compile(r"[A-Za-z0-9_.:/$]+")
_STRING_FIELDS = {"http.request.uri.path", "http.user_agent"}
_OPS = {"eq", "ne", "contains", "in"}


class RulesSyntaxError(AssertionError):
    """The expression is not in the subset (or not valid rules language at all)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "word" or "punct"
    value: str


def _string(text: str, i: int) -> tuple[str, int]:
    """The quoted string starting at ``text[i] == '"'``: its value and the index after it."""
    out, i = [], i + 1
    while True:
        if i >= len(text):
            raise RulesSyntaxError("missing ending quote")
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in '\\"':
                raise RulesSyntaxError(f"invalid escape at {i}: {text[i : i + 2]!r}")
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        if ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            raise RulesSyntaxError(f"control character or lone surrogate in a string at {i}")
        out.append(ch)
        i += 1


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == " ":
            i += 1
        elif ch == '"':
            value, i = _string(text, i)
            tokens.append(Token("str", value))
        elif ch in "(){}":
            tokens.append(Token("punct", ch))
            i += 1
        elif m := _WORD.match(text, i):
            if m.group() == "r" and text[m.end() : m.end() + 1] in ('"', "#"):
                raise RulesSyntaxError("raw strings are not used by botguard")
            tokens.append(Token("word", m.group()))
            i = m.end()
        else:
            raise RulesSyntaxError(f"unexpected character {ch!r} at {i}")
    return tokens


@dataclass
class _Parser:
    tokens: list[Token]
    pos: int = 0
    lists: set[str] = field(default_factory=set)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> Token:
        tok = self.peek()
        if tok is None or (kind and tok.kind != kind) or (value and tok.value != value):
            raise RulesSyntaxError(f"expected {value or kind} at token {self.pos}, got {tok}")
        self.pos += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind != "str" and tok.value == value

    def expr(self) -> Any:
        node = self.term()
        while self.at("or"):
            self.take()
            node = ("or", node, self.term())
        return node

    def term(self) -> Any:
        node = self.factor()
        while self.at("and"):
            self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self) -> Any:
        if self.at("not"):
            self.take()
            return ("not", self.factor())
        if self.at("("):
            self.take()
            node = self.expr()
            self.take("punct", ")")
            return node
        if self.at("cf.client.bot"):
            self.take()
            return ("field", "cf.client.bot")
        return self.comparison()

    def lhs(self) -> tuple[str, bool]:
        if self.at("lower"):
            self.take()
            self.take("punct", "(")
            name = self.take("word").value
            self.take("punct", ")")
            if name not in _STRING_FIELDS:
                raise RulesSyntaxError(f"lower() of a non-string field {name}")
            return name, True
        name = self.take("word").value
        if name not in _STRING_FIELDS | {"ip.src", "ip.src.asnum"}:
            raise RulesSyntaxError(f"unknown field {name!r}")
        return name, False

    def comparison(self) -> Any:
        name, lowered = self.lhs()
        op = self.take("word").value
        if op not in _OPS:
            raise RulesSyntaxError(f"unknown operator {op!r}")
        if name in _STRING_FIELDS:
            if op == "in":
                raise RulesSyntaxError("`in` on a string field")
            return ("cmp", name, lowered, op, self.take("str").value)
        if name == "ip.src" and op == "eq":
            return ("cmp", name, False, op, ipaddress.ip_address(self.take("word").value))
        if op != "in":
            raise RulesSyntaxError(f"{op} on {name}")
        if self.peek() is not None and self.peek().kind == "word" and self.peek().value.startswith("$"):  # type: ignore[union-attr]
            list_name = self.take().value[1:]
            if not re.fullmatch(r"[a-z0-9_]{1,50}", list_name) or name != "ip.src":
                raise RulesSyntaxError(f"bad list reference ${list_name}")
            self.lists.add(list_name)
            return ("list", list_name)
        self.take("punct", "{")
        members: list[Any] = []
        while not self.at("}"):
            word = self.take("word").value
            if name == "ip.src.asnum":
                if not word.isdigit():
                    raise RulesSyntaxError(f"not an AS number: {word!r}")
                members.append(int(word))
            else:
                members.append(ipaddress.ip_network(word, strict=True))
        self.take("punct", "}")
        if not members:
            raise RulesSyntaxError("empty set")
        return ("set", name, tuple(members))


def parse(text: str) -> Any:
    """The expression tree of ``text``, or :class:`RulesSyntaxError`."""
    parser = _Parser(tokenize(text))
    node = parser.expr()
    if parser.peek() is not None:
        raise RulesSyntaxError(
            f"trailing tokens from {parser.pos}: {parser.tokens[parser.pos : parser.pos + 3]}"
        )
    return node


def strings(node: Any) -> list[str]:
    """Every string literal in the tree, in order."""
    if node[0] == "cmp":
        return [node[4]] if isinstance(node[4], str) else []
    if node[0] in ("and", "or"):
        return strings(node[1]) + strings(node[2])
    if node[0] == "not":
        return strings(node[1])
    return []


@dataclass(frozen=True)
class Request:
    user_agent: str
    path: str = "/"
    ip: str = "203.0.113.200"
    asn: int = 64511
    bot: bool = False  # cf.client.bot: a Cloudflare-verified bot
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)


def lower(value: str) -> str:
    """Cloudflare's ``lower()``: ASCII A-Z only."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in value)


def evaluate(node: Any, req: Request) -> bool:
    kind = node[0]
    if kind == "or":
        return evaluate(node[1], req) or evaluate(node[2], req)
    if kind == "and":
        return evaluate(node[1], req) and evaluate(node[2], req)
    if kind == "not":
        return not evaluate(node[1], req)
    if kind == "field":
        return req.bot
    if kind == "list":
        ip = ipaddress.ip_address(req.ip)
        return any(ip in ipaddress.ip_network(n) for n in req.lists.get(node[1], ()))
    if kind == "set":
        if node[1] == "ip.src.asnum":
            return req.asn in node[2]
        return any(ipaddress.ip_address(req.ip) in n for n in node[2])
    _, name, lowered, op, value = node
    if name == "ip.src":
        return ipaddress.ip_address(req.ip) == value
    field_value = req.user_agent if name == "http.user_agent" else req.path
    if lowered:
        field_value = lower(field_value)
    return {"eq": field_value == value, "ne": field_value != value, "contains": value in field_value}[op]
