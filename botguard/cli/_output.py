"""Where a verb's report goes: stdout, or a file written atomically (never half a report)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from botguard.errors import BotguardError, Location


def emit(write: Callable[[TextIO], object], output: str | None) -> None:
    """Run `write` into stdout or into `output` (temp file + rename in the same directory).

    A reader that stops early (`botguard scan | head`) is not an error: the work is done, so the
    rest of the report is dropped and the command ends with its own exit code (e.g. --fail-on).
    """
    if output is None or output == "-":
        try:
            write(sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            discard_stdout()
        return
    target = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise BotguardError(f"cannot write output: {exc.strerror}", Location(output)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # streamed: a report can be 100 MB
            write(handle)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BotguardError(f"cannot write output: {exc.strerror}", Location(output)) from None
        raise


def discard_stdout() -> None:
    """Send whatever is still to be printed to /dev/null: stdout's reader has gone away.

    The file descriptor itself is redirected, as Python's documentation advises for SIGPIPE,
    so the flush at interpreter exit cannot fail a second time and print a traceback.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture into a StringIO)
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
