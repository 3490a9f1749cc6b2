"""The one way deploy runs a command (a server's validate, reload, module dump or ``-T``; ssh).

Why one place: every such command must get the user's environment, not the settings botguard
makes for its own libraries (:func:`botguard.loading.child_environment`): a reload that starts
Apache would hand them to the site's applications. A command added later goes through here too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from botguard.loading import child_environment

__all__ = ["run"]


def run(argv: Sequence[str], timeout: float, sent: str | None = None) -> subprocess.CompletedProcess[str]:
    """``argv`` (no shell) with ``sent`` on its stdin, its output captured as text, stopped after
    ``timeout`` seconds; raises what :func:`subprocess.run` raises (OSError, TimeoutExpired)."""
    return subprocess.run(
        list(argv),
        input=sent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=child_environment(),
    )
