"""One error base for the whole package, and the exit codes the CLI maps errors to.

Stages raise :class:`BotguardError` subclasses; only :func:`botguard.cli.main` turns them into
exit codes and one-line messages, so no stage ever calls ``sys.exit`` or prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes: cron jobs and scripts rely on these."""

    OK = 0  # the command did what was asked
    ERROR = 1  # runtime failure: I/O, a server refused a config, a network error
    USAGE = 2  # bad arguments or configuration, reported before any work
    FAIL_ON = 3  # `--fail-on` condition met (e.g. a block verdict exists)
    INTERRUPTED = 130  # Ctrl-C


@dataclass(frozen=True, slots=True)
class Location:
    """Where an error comes from: a file and, when known, a line."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


class BotguardError(Exception):
    """Base of every error botguard reports to the user."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, source: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        return f"{self.message} in {self.source}" if self.source else self.message


class UsageError(BotguardError):
    """Bad command-line usage (exit 2)."""

    exit_status = ExitStatus.USAGE


class ConfigError(BotguardError):
    """Invalid configuration file or option value (exit 2)."""

    exit_status = ExitStatus.USAGE


class InputError(BotguardError):
    """An input file cannot be read at all (missing, unreadable, unknown format): exit 1."""

    exit_status = ExitStatus.ERROR
