"""The rich console reports are printed through (private)."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console


class _ReportConsole(Console):
    """A console that lets a closed pipe reach the caller instead of exiting.

    rich ends the process with exit 1 when stdout's reader goes away (`botguard scan | head`);
    the CLI treats that as the normal end of a report (:func:`botguard.cli._output.emit`).
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True  # anything rich still holds is dropped, not written again
        raise BrokenPipeError


def report_console(out: TextIO, width: int | None) -> Console:
    """A console writing plain rich renderables to ``out`` (no highlighting, no soft wrap)."""
    return _ReportConsole(file=out, width=width, highlight=False, soft_wrap=False)
