"""Log escapes decoded: the header a client sent, from its nginx or Apache log form."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.logs import escapes, read_batches
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


RAW_AGENT = b"\xff\xfe crawler \xc3"  # bytes that are not UTF-8, as a client may send them


def _read_agents(tmp_path, name: str, data: bytes, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(data)
    return [a for b in read_batches([str(path)], **kwargs) for a in b.requests["user_agent"].to_list()]


def test_raw_invalid_utf8_is_read_as_its_escape_and_comes_back_as_the_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A log written without escaping holds the agent's raw bytes: text and JSON logs read them
    as nginx's \\xHH escapes, which decode to exactly those bytes (not U+FFFD); valid UTF-8 of
    the same block stays as it is."""
    for name, template, kwargs in (
        ("text.log", b'203.0.113.9 - - [04/Mar/2024:00:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "%s"\n', {}),
        ("json.log", b'{"remote_addr":"203.0.113.9","time_iso8601":"2024-03-04T00:00:01+01:00",'
                     b'"request":"GET / HTTP/1.1","status":200,"http_user_agent":"%s"}\n', {"log_format": "json"}),
    ):  # fmt: skip
        data = b"".join(template % agent for agent in (RAW_AGENT, "Straße/1.0".encode(), RAW_AGENT))
        agents = _read_agents(tmp_path, name, data, **kwargs)
        assert agents == [r"\xff\xfe crawler \xc3", "Straße/1.0", r"\xff\xfe crawler \xc3"], name
        assert unescape(agents[0]).encode("utf-8", "surrogateescape") == RAW_AGENT


def _whole_block_reference(block: bytes, *, json: bool = False) -> bytes:
    """The escaping done on the block as one text (what the pieces must add up to)."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        form = "\\\\x{:02x}" if json else "\\x{:02x}"
        text = block.decode("utf-8", "surrogateescape")
        return escapes._RAW_BYTE.sub(lambda m: form.format(ord(m.group()) - 0xDC00), text).encode()
    return block


LINE_BYTES = [b"a", b" ", b"\xc3\xbc", b"\xe2\x82\xac", b"\xff", b"\xc3", b"\x80", b"\xf0\x9f\x98\x80", b'"']


@given(
    lines=st.lists(st.lists(st.sampled_from(LINE_BYTES), max_size=12).map(b"".join), max_size=40),
    json=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_escaping_in_pieces_equals_escaping_the_whole_block(lines: list[bytes], json: bool) -> None:
    """Cut into pieces of whole lines, a block is escaped exactly as it is escaped whole."""
    block = b"\n".join(lines)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(escapes, "PIECE_BYTES", 7)  # many pieces per block
        assert escapes.escape_raw_bytes(block, json=json) == _whole_block_reference(block, json=json)
