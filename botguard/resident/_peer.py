"""What the server reads of a client's process itself, rather than believe the request.

A request says what its process is: a process of the same user may say anything. What decides
which files a served command can reach (ids, groups, capabilities, no_new_privs, seccomp, the
security label, the namespaces and the root directory) is read here from the peer process:
SO_PEERCRED's pid, its /proc directory opened as a descriptor (every read goes through it, so a
process that ends meanwhile makes them fail instead of naming another), and the check that the
descriptor was that process's: its pidfd (SO_PEERPIDFD, Linux 6.5) is still alive after the
reads, or, on an older kernel, it started before the connection was accepted. Anything that
cannot be read or checked: None, and the request is refused (the client runs it itself).
"""

from __future__ import annotations

import array
import os
import signal
import socket
import time
from dataclasses import dataclass

from botguard.resident import _wire

__all__ = ["PeerFacts", "peer_credentials", "read_peer"]

#: getsockopt option for a pidfd of the peer (Linux 6.5; the socket module may not name it).
SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)


@dataclass(frozen=True, slots=True)
class PeerFacts:
    """A peer process's privileges and namespaces, in the form of a request's fields."""

    pid: int
    privileges: bytes
    namespaces: bytes


def peer_credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of ``conn`` (SO_PEERCRED)."""
    creds = array.array("i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return creds[0], creds[1], creds[2]


def boot_ticks() -> int:
    """Now, in clock ticks since boot (the unit of a process's start time in /proc/PID/stat)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def read_peer(conn: socket.socket, accepted_ticks: int) -> PeerFacts | None:
    """The facts of the process at the other end of ``conn`` (accepted at ``accepted_ticks``,
    :func:`boot_ticks`), or None when they cannot be read for certain."""
    pid = peer_credentials(conn)[0]
    if pid <= 0:
        return None
    pidfd = _peer_pidfd(conn)
    try:
        proc = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        _close(pidfd)
        return None
    try:
        facts = PeerFacts(pid, _wire.privileges_of(proc), _wire.namespaces_of(proc))
        return facts if _same_process(pidfd, proc, accepted_ticks) else None
    except OSError:
        return None
    finally:
        os.close(proc)
        _close(pidfd)


def _peer_pidfd(conn: socket.socket) -> int | None:
    """A pidfd of the peer, or None when this kernel cannot give one."""
    try:
        return conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        return None


def _same_process(pidfd: int | None, proc: int, accepted_ticks: int) -> bool:
    """Whether the /proc directory ``proc`` was the peer's. A live pidfd means its pid was never
    free since the connection, so /proc/PID named it; without one, a process that started after
    the connection was accepted holds a reused pid."""
    if pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, 0)
        except OSError:
            return False
        return True
    with open(os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc), "rb") as stat:
        started = int(stat.read().rsplit(b")", 1)[1].split()[19])
    return started <= accepted_ticks


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
