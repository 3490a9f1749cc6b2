"""The `botguard` command: parse arguments, build settings, call one verb of :mod:`botguard.app`, print.

This is the only place that maps errors to exit codes (see :class:`botguard.errors.ExitStatus`).
Each verb's command lives in its own module under ``botguard/cli/`` and stays thin.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import click

from botguard import __version__
from botguard.cli._output import discard_stdout
from botguard.errors import BotguardError, ExitStatus
from botguard.loading import collector_paused, tune_libraries

__all__ = ["main", "run"]

# verb -> module under botguard.cli that defines a click command named `command`.
# Imported lazily so `botguard --help` and `botguard robots check` stay fast.
VERBS: dict[str, str] = {
    "scan": "botguard.cli.scan",
    "robots": "botguard.cli.robots",
    "update": "botguard.cli.update",
    "verify": "botguard.cli.verify",
    "deploy-rules": "botguard.cli.deploy",
    "cloudflare": "botguard.cli.cloudflare",
    "candidates": "botguard.cli.candidates",
    "watch": "botguard.cli.watch",
    "serve": "botguard.cli.serve",
    "ship": "botguard.cli.ship",
    "receive-rules": "botguard.cli.receive",
    "report": "botguard.cli.report",
    "daemon": "botguard.cli.daemon",
}


class ReaderGone(Exception):
    """stdout's reader closed the pipe (`botguard ... | head`).

    Not an OSError on purpose: click turns a broken pipe into exit 1, a Unix tool ends quietly.
    """


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise ReaderGone() from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module_name = VERBS.get(name)
        if module_name is None:
            return None
        # What the imports make (polars' and botguard's modules, ~300k objects) lives as long as
        # the process and is not garbage: the collector pauses while they load (its collections
        # walked them ~50 ms of a small scan's 0.7 s CPU) and then never sees them again, so a
        # full collection no longer walks them either (~20 ms more, more over a big scan's
        # allocations). Once per process: a caller that runs many commands (the tests) would
        # otherwise freeze each one's garbage.
        with collector_paused(first=not gc.get_freeze_count()):
            module = __import__(module_name, fromlist=["command"])
        return module.command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="botguard")
@click.option("--traceback", is_flag=True, hidden=True, help="Re-raise errors (for debugging).")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Find aggressive crawlers in access logs, prove robots.txt violations, block them."""
    ctx.ensure_object(dict)
    ctx.obj["traceback"] = traceback


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map every error to one exit code and one stderr line."""
    tune_libraries()
    args = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in args
    if sys.stdout is None:  # started with stdout closed (`>&-`): the report has nowhere to go
        click.echo("botguard: error: standard output is closed: nowhere to write to", err=True)
        return ExitStatus.ERROR
    try:
        result: Any = cli.main(args=args, prog_name="botguard", standalone_mode=False)
        sys.stdout.flush()  # here, not at exit: a full disk is this command's error, said once
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return ExitStatus.USAGE
    except click.exceptions.Abort:
        click.echo("botguard: interrupted", err=True)
        return ExitStatus.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("botguard: interrupted", err=True)
        return ExitStatus.INTERRUPTED
    except BotguardError as exc:
        if show_traceback:
            raise
        click.echo(f"botguard: error: {exc}", err=True)
        return exc.exit_status
    except (ReaderGone, BrokenPipeError):  # nobody reads the rest: not an error (reports keep
        discard_stdout()  # their own code, see emit; BrokenPipeError: at the last flush)
        return ExitStatus.OK
    except OSError as exc:  # what no stage turned into a BotguardError: writing stdout (a full disk)
        if show_traceback:
            raise
        discard_stdout()  # what is still buffered would fail again at exit
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"botguard: error: {exc.strerror or exc}{where}", err=True)
        return ExitStatus.ERROR
    return int(result) if isinstance(result, int) else ExitStatus.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
