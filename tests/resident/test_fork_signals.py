"""A signal sent to a command the server just forked, before the child reset the server's
handlers (a client killed at once, a Ctrl-C right after "go"): the command acts on it as a new
interpreter does, and the server never sees it.

Found by a CI run under load: the child ran the server's handler, so the SIGTERM was lost (the
killed client's command ran on, reading a pipe that never ends) and the handler's write to the
server's wake-up descriptor, still open in the child, stopped the server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The real Server forks a real request; the child's first step is replaced by one that signals
# itself, so the signal comes exactly in the window (before the reset), every run.
EARLY_SIGNAL = """
import os, signal, sys, time
from botguard.resident import _worker
from tests.resident._one_fork import a_pending_scan, a_server

signum = int(sys.argv[1])
_worker._die_with = lambda server_pid: os.kill(os.getpid(), signum)
server = a_server(lambda args: time.sleep(60) or 0)
pending = a_pending_scan(server)
began = time.monotonic()
server._fork(pending)
(job,) = server.running.values()
_, status = os.waitpid(job.pid, 0)
try:
    woken = server.wake_read.recv(64)
except BlockingIOError:
    woken = b""
ended = os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)
print(ended, woken.hex() or "-", "%.1f" % (time.monotonic() - began))
"""


@pytest.mark.parametrize("signum", [15, 1, 2])
def test_a_signal_before_the_childs_reset_ends_the_command_and_not_the_server(signum: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EARLY_SIGNAL, str(signum)],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    ended, woken, seconds = done.stdout.split()
    # SIGINT too: a Ctrl-C before the command started ends it as it ends an interpreter starting.
    assert (ended, woken) == (str(signum).encode(), b"-"), done.stderr
    assert float(seconds) < 30, "the command ran on after the signal (it sleeps 60 s)"
