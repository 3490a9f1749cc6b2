"""The :class:`~botguard.app.Env` of a command-line run: this process's streams, clock and environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from botguard.app.env import Env


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)


def cli_env(state_path: str | None, *, progress: Callable[[int], None] | None = None) -> Env:
    """``--state PATH``, the real clock and network, stdout, and log lines on stderr."""
    return Env(
        state_path=state_path, environ=os.environ, stdout=sys.stdout, log=_to_stderr, progress=progress
    )
