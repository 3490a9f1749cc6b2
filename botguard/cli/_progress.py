"""A progress bar on stderr for long scans, only when stderr is a terminal (never in a pipe or log).

The bar's length is the number of lines the input files hold, estimated from their sizes and
the mean length of their first lines; input of unknown size (standard input, a compressed
archive) gets a spinner and a line count instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

#: Bytes read from the start of each file to measure its mean line length.
SAMPLE_BYTES = 256 * 1024
_COMPRESSED = (".gz", ".bz2", ".xz")


def estimate_lines(paths: Sequence[str]) -> int | None:
    """About how many lines ``paths`` hold; None when a size cannot be known (stdin, an archive).

    Examples:
        >>> estimate_lines(["-"]) is None
        True
    """
    total = 0
    for path in paths:
        if path == "-" or path.endswith(_COMPRESSED):
            return None
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as handle:
                sample = handle.read(SAMPLE_BYTES)
        except OSError:
            return None  # the scan itself reports an unreadable file
        lines = sample.count(b"\n")
        total += size * lines // len(sample) if lines else (1 if size else 0)
    return total


@contextmanager
def line_progress(
    enabled: bool, total: int | None = None, console: Console | None = None
) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the number of lines just read, or None when disabled.

    With a ``total`` (lines expected) it is a bar with the share done and the time left;
    without, a spinner counting lines. The display goes away when the scan ends.
    """
    if not enabled:
        yield None
        return
    # rich is imported only for a terminal: a cron run's scan never pays for it
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    if total:
        columns: tuple[object, ...] = (
            TextColumn("scanning"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.completed:,.0f} lines"), TimeRemainingColumn(),
        )  # fmt: skip
    else:
        columns = (SpinnerColumn(), TextColumn("scanning {task.completed:,.0f} lines"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:  # type: ignore[arg-type]
        task = progress.add_task("scan", total=total or None)

        def advance(lines: int) -> None:
            task_total = progress.tasks[0].total
            if task_total is not None and progress.tasks[0].completed + lines > task_total:
                progress.update(task, total=progress.tasks[0].completed + lines)  # the estimate was short
            progress.advance(task, lines)

        yield advance
