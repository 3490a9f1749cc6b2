"""A progress line on stderr for long scans (only when stderr is a terminal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def line_progress(enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the number of lines just read, or None when disabled."""
    if not enabled:
        yield None
        return
    # rich is imported only for a terminal: a cron run's scan never pays for it
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("scanning {task.completed:,.0f} lines"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("scan", total=None)
        yield lambda lines: progress.advance(task, lines)
