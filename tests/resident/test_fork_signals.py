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
import os, selectors, signal, socket, sys, time
from botguard.resident import _wire, _worker, server as srv
from botguard.resident.records import Request, Start

signum = int(sys.argv[1])
_worker._die_with = lambda server_pid: os.kill(os.getpid(), signum)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
server = srv.Server(listener, lambda args: time.sleep(60) or 0, Start.of_this_process(os.environ), print)
for sock in (server.wake_read, server.wake_write):
    sock.setblocking(False)
signal.set_wakeup_fd(server.wake_write.fileno(), warn_on_full_buffer=False)
for held in _worker.HELD:
    signal.signal(held, srv._noted)
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
null = os.open(os.devnull, os.O_RDWR)
fds = [os.dup(null), os.dup(null), os.dup(null), os.open(".", os.O_PATH | os.O_DIRECTORY)]
env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
request = Request.decode(
    _wire.encode_request(_wire.code_fingerprint(), _wire.process_context(), ["botguard", "scan"], env)
)
pending = srv._Pending(ours, request, fds)
server.pending[ours.fileno()] = pending
server.selector.register(ours, selectors.EVENT_READ, server._pending_readable)
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
