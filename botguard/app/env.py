"""What a verb takes from outside its request: state, clock, network, and where live output goes.

Every ``run_<verb>(request, env)`` receives one :class:`Env`. The CLI builds it from the process
(``botguard.cli._env``); a test or the service builds its own, so a verb runs without click,
without the real clock, and without touching the user's state directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # imported where used: `botguard robots check` must not pay for requests
    import requests

    from botguard.state import State


_WALL_CLOCK = partial(datetime.now, UTC)


def _drop(line: str) -> None:
    """Where log lines go when nobody listens."""


@dataclass(frozen=True, slots=True)
class Env:
    """The outside world of one run (see the module docstring).

    ``log`` receives the lines a long run tells its operator as it goes (watch's status lines,
    skipped files): the CLI prints them on stderr. Everything else a verb has to say is in the
    report it returns.
    """

    state_path: str | None = None  # the state database; None: the user's state directory
    now: Callable[[], datetime] = _WALL_CLOCK
    sleep: Callable[[float], None] = time.sleep  # back-off between retries (Cloudflare)
    environ: Mapping[str, str] = field(default_factory=dict)  # credentials (CLOUDFLARE_API_TOKEN)
    http: requests.Session | None = None  # robots.txt fetches; None: a new session per run
    stdout: TextIO | None = None  # a streaming verb's output (watch's candidates); None: dropped
    log: Callable[[str], None] = _drop
    progress: Callable[[int], None] | None = None  # told how many log lines were just read

    def open_state(self) -> State:
        """The state database, opened (use it in a ``with`` block: that is where damage is reported)."""
        from botguard.state import State

        return State(self.state_path)
