"""The client: hand a command to the resident server, or say it must run in this process.

Runs before click, polars or numpy are imported (that is the point), so it imports ``os`` and
``_signal``, and ``_socket`` and ``array`` once a server's directory is there. Whatever goes
wrong before the server has agreed to run the command (no socket, a stale one, another user's,
another code, another environment, a refusal) means "run it here", silently: the command then
runs exactly as without a server. Once the server has been told to go, the command is the
server's: the client never runs it a second time, so its output is never doubled.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half: `signal` itself imports enum
import os
import sys

from botguard.resident import _wire

TYPE_CHECKING = False  # typing's own costs ~10 ms: mypy reads this name as typing's
if TYPE_CHECKING:
    import _socket

#: Verbs the server runs. Not `watch` or `serve` (they follow or listen forever: nothing to
#: gain), not `candidates`/`deploy-rules` (they may prompt or run the site's servers: the user's
#: terminal, limits and service belong to them), not `--help` and the rest (no heavy imports).
SERVED_VERBS = frozenset({"scan"})
#: Signals the client passes on to the command (Ctrl-C, a kill, a closed terminal, Ctrl-Z and
#: the shell's `fg`/`bg`).
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGTSTP, _signal.SIGCONT)
#: How long the client waits for the server to accept a request before running it itself (a
#: server answers in milliseconds; one that is saturated closes the connection at once).
HANDSHAKE_SECONDS = 2.0
INTERRUPTED = 130


def served(args: list[str]) -> int | None:
    """The exit status of ``botguard ARGS`` as the resident server ran it, or None: run it here."""
    if not args or args[0] not in SERVED_VERBS or _wire.opted_out(os.environ):
        return None
    try:
        accepted = _accepted(args)
    except KeyboardInterrupt:  # before the server runs anything: as a command interrupted here
        sys.stderr.write("botguard: interrupted\n")
        return INTERRUPTED
    if accepted is None:
        return None
    connection, mask = accepted
    try:
        return _outcome(connection, mask)
    finally:
        connection.close()


def _accepted(args: list[str]) -> tuple[_socket.socket, set[int]] | None:
    """A connection to a server of this user and this code that has accepted to run ``args``,
    and the signal mask to restore once the forwarders are in place (the forwarded signals are
    held blocked from "go" on: see _outcome)."""
    path = _wire.socket_path(os.environ)
    if not _wire.private_directory(os.path.dirname(path) or ".") or not _standard_streams_open():
        return None
    import _socket  # C modules: loading them is most of what the client costs (~1-2 ms),
    import array  # so not before there is a server to ask

    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    mask = None
    try:
        connection.settimeout(HANDSHAKE_SECONDS)
        connection.connect(path)
        if _peer_uid(connection) != os.geteuid():
            raise OSError("another user's server")
        here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # the directory itself, not its name
        try:
            rights = array.array("i", (0, 1, 2, here))
            connection.sendmsg([_request(args)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        finally:
            os.close(here)
        if connection.recv(64) != b"ready":
            raise OSError("refused")
        # From "go" on a signal is the command's: held until _outcome passes it on. Between
        # here and its handlers a Ctrl-C would end this process with a traceback (a Ctrl-Z
        # stop it alone) while the server runs the command on.
        mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED)
        connection.send(b"go")
    except (OSError, ValueError):  # refused, gone, timed out, a closed stdin/stdout/stderr (EBADF)
        connection.close()
        if mask is not None:  # one that came meanwhile acts here, as on the command run here
            _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        return None
    connection.settimeout(None)
    return connection, mask


def _standard_streams_open() -> bool:
    """Whether descriptors 0-2 are open. A closed one (`>&-`) would be taken by this client's
    socket or directory descriptor and handed to the command as its stream: such a command runs
    in this process, where botguard says the stream is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


def _peer_uid(connection: _socket.socket) -> int:
    """The user id of the process at the other end (SO_PEERCRED: pid, uid, gid)."""
    import _socket
    import array

    creds = array.array("i", connection.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12))
    return creds[1]


def _request(args: list[str]) -> bytes:
    """This process's request: its code, context, argv and environment."""
    argv = [sys.argv[0] if sys.argv else "botguard", *args]
    return _wire.encode_request(_wire.code_fingerprint(), _wire.process_context(), argv, os.environb)


def _outcome(connection: _socket.socket, mask: set[int]) -> int:
    """Wait for the command's end, passing on the signals this process gets, and end as it did.
    A signal this process ignores (``nohup``'s SIGHUP, SIGINT in a script's background job) is
    not passed on: the command run here would have ignored it too."""
    forward = _forwarder(connection)
    ignored = {signum for signum in FORWARDED if _signal.getsignal(signum) == _signal.SIG_IGN}
    before = {signum: _signal.signal(signum, forward) for signum in FORWARDED if signum not in ignored}
    try:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)  # one held since "go" is passed on now
        reply = connection.recv(64)
    finally:
        for signum, handler in before.items():
            _signal.signal(signum, handler)
    kind, _, number = reply.partition(b" ")
    if kind == b"exit" and number.isdigit():
        return int(number)
    if kind == b"signal" and number.isdigit():
        return _ended_by(int(number))
    sys.stderr.write(
        "botguard: error: the resident server stopped before the command ended "
        "(its output may be incomplete; see `botguard daemon --status`)\n"
    )
    return 1


def _forwarder(connection: _socket.socket) -> object:
    """A signal handler that asks the server to send the same signal to the command."""

    def forward(signum: int, frame: object) -> None:
        try:  # noqa: SIM105  (contextlib: one more import before the client knows it needs one)
            connection.send(b"signal %d" % signum)
        except OSError:  # the server is gone: the wait ends with its error line
            pass
        if signum == _signal.SIGTSTP:  # Ctrl-Z: the command stops, and so does this process
            _signal.signal(signum, _signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # resumes here on SIGCONT, whose handler wakes the command
            _signal.signal(signum, forward)

    return forward


def _ended_by(signum: int) -> int:
    """End this process by ``signum``, as the command ended (a shell sees the same status)."""
    sys.stdout.flush()
    _signal.signal(signum, _signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # a signal this process does not die of (e.g. blocked by its parent)
