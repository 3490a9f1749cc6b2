"""Where a verb's report goes: stdout, or a file written atomically (never half a report)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from botguard.errors import BotguardError, Location


def emit(write: Callable[[TextIO], None], output: str | None) -> None:
    """Run `write` into stdout or into `output` (temp file + rename in the same directory)."""
    if output is None or output == "-":
        write(sys.stdout)
        sys.stdout.flush()
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
