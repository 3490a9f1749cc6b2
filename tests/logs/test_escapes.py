"""Log escapes decoded: the header a client sent, from its nginx or Apache log form."""

from __future__ import annotations

import doctest

import pytest

from botguard.logs import escapes
from botguard.logs.escapes import unescape


@pytest.mark.parametrize(
    ("logged", "sent"),
    [
        ("plain agent/1.0", "plain agent/1.0"),
        (r"\x22wget http://x/x.sh\x22", '"wget http://x/x.sh"'),  # nginx: quote as \x22
        (r"a\x5Cb \x09tab", "a\\b \ttab"),  # nginx: backslash and tab as \xHH
        (r"\"quoted\" back\\slash\ttab\nnl", '"quoted" back\\slash\ttab\nnl'),  # Apache
        (r"\xC3\xBCber", "über"),  # UTF-8 bytes come back as characters
        (r"\xFF\xC3", "\udcff\udcc3"),  # invalid UTF-8 as surrogate escapes (the bytes round-trip)
        (r"\x5Cx22", "\\x22"),  # a literal \x22 the client sent, logged by nginx
        (r"\\x22", "\\x22"),  # the same logged by Apache
        (r"\q \x2 \xZZ", r"\q \x2 \xZZ"),  # not escapes: left as they are
    ],
)
def test_unescape(logged: str, sent: str) -> None:
    assert unescape(logged) == sent


def test_docstring_examples() -> None:
    assert doctest.testmod(escapes).failed == 0
