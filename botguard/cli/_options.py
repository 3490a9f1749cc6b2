"""Options every verb takes (the CLI contract: `--config FILE` and `--state PATH` everywhere)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML configuration file."
)


def state_option(help: str = "State database (default: user state dir).") -> Callable[[F], F]:
    """``--state PATH``; a verb may say what else lives beside the database."""
    return click.option("--state", "state_path", metavar="PATH", help=help)


def common_options(fn: F) -> F:
    """``--config`` and ``--state``, in that order in ``--help``."""
    return config_option(state_option()(fn))
