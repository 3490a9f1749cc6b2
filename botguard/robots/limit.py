"""How much of a robots.txt counts: the first 500 KiB, fetched or read from a local file.

RFC 9309 section 2.5 lets a crawler stop parsing after 500 KiB, and Google does exactly that:
what follows is ignored, and a line that straddles the limit is read up to the cut (so
``Disallow: /private`` cut after ``/pri`` disallows ``/pri``), since its parser takes the bytes
it was given. A local file gets the same limit, so ``robots check`` and ``scan`` judge the rules
Google would follow and a hostile file cannot cost more than 500 KiB of rules.
:func:`RobotsTxt.parse <botguard.robots.parser.RobotsTxt.parse>` itself applies no limit, like
Google's reference library.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from botguard.errors import InputError, Location
from botguard.robots import _lexer as lx
from botguard.robots.records import Truncation

#: Bytes of a robots.txt a crawler reads (RFC 9309 2.5's minimum, Google's exact limit).
MAX_BYTES = 500 * 1024

_LINE_ENDS = (b"\n", b"\r")


def cut(data: bytes, size: int | None = None) -> tuple[bytes, Truncation | None]:
    """The first :data:`MAX_BYTES` of ``data`` and what was left out (None: nothing was).

    ``data`` needs only one byte past the limit to tell a complete last line from a partial one;
    ``size`` is the whole file's size when known (``data`` may be just its start).
    """
    if len(data) <= MAX_BYTES:
        return data, None
    kept = data[:MAX_BYTES]
    partial = kept[-1:] not in _LINE_ENDS and data[MAX_BYTES : MAX_BYTES + 1] not in _LINE_ENDS
    line = len(lx.strip_bom(kept).splitlines())
    return kept, Truncation(size, MAX_BYTES, line, partial)


def read_robots(path: str) -> tuple[bytes, Truncation | None]:
    """A local robots.txt (``-`` is stdin) as a crawler reads it: at most :data:`MAX_BYTES`.

    Only the bytes that count are read, so a huge file costs no more memory than a small one.
    """
    try:
        if path == "-":
            return cut(sys.stdin.buffer.read(MAX_BYTES + 1))
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
            size = os.fstat(handle.fileno()).st_size  # 0 for a pipe: unknown
    except OSError as exc:
        raise InputError(f"cannot read robots.txt: {exc.strerror}", Location(path)) from None
    return cut(data, size or None)
