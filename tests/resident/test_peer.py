"""The server reads a client's privileges and namespaces of the process itself (_peer), and
only when it can tell the /proc directory it read was the peer's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from botguard.resident import _peer, _wire


def test_a_peer_read_through_proc_is_what_the_process_says_of_itself() -> None:
    """Same process at both ends: the facts read of the peer equal the request's own fields, so
    a truthful client is served as before."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        facts = _peer.read_peer(ours, _peer.boot_ticks())
    context = _wire.process_context()
    assert facts is not None
    assert (facts.pid, facts.privileges, facts.namespaces) == (
        os.getpid(), context[b"privileges"], context[b"namespaces"],
    )  # fmt: skip


def test_a_proc_directory_of_a_process_started_after_the_connection_is_not_the_peers() -> None:
    """Without a pidfd, a pid reused by a process started after the accept is refused."""
    before = _peer.boot_ticks() - 1
    time.sleep(0.05)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        proc = os.open(f"/proc/{child.pid}", os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert not _peer._same_process(None, proc, before)
            assert _peer._same_process(None, proc, _peer.boot_ticks())
        finally:
            os.close(proc)
    finally:
        child.kill()
        child.wait()


def test_a_peer_whose_pidfd_has_ended_is_not_vouched_for() -> None:
    """With a pidfd, a peer that ended while it was read is refused (its pid may name another)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    pidfd = os.pidfd_open(child.pid)
    proc = os.open(f"/proc/{child.pid}", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert _peer._same_process(pidfd, proc, 0)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert not _peer._same_process(pidfd, proc, _peer.boot_ticks())
    finally:
        os.close(proc)
        os.close(pidfd)
