"""One request put through the real ``Server._fork``, for the scripts the resident tests run in a
fresh interpreter (``python -c``, from the repository's root, so this module imports as
``tests.resident._one_fork``).

Why: a signal that must land in a fork's window can only be placed from inside, so these scripts
build what the server's loop would hold at that moment (a server, its signal handling, one
client's pending request with its descriptors) and call ``_fork`` themselves.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
from collections.abc import Callable

from botguard.resident import _wire, _worker
from botguard.resident import server as srv
from botguard.resident.records import Request, Start

#: The client's ends of the pending requests' socket pairs, kept open as a waiting client would.
_CLIENT_ENDS: list[socket.socket] = []


def a_server(command: Callable[[list[str]], int], *, handling_signals: bool = True) -> srv.Server:
    """A server running ``command`` for its requests; with ``handling_signals``, its signals set
    as ``serve_forever`` sets them (the wake-up socket, ``_noted`` for the held signals)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = srv.Server(listener, command, Start.of_this_process(os.environ), print)
    if handling_signals:
        for sock in (server.wake_read, server.wake_write):
            sock.setblocking(False)
        signal.set_wakeup_fd(server.wake_write.fileno(), warn_on_full_buffer=False)
        for held in _worker.HELD:
            signal.signal(held, srv._noted)
    return server


def a_pending_scan(server: srv.Server, stdin: int | None = None) -> srv._Pending:
    """A `botguard scan` request from this process's environment, registered with ``server`` as
    the loop registers one before its "go": stdin is ``stdin`` (default /dev/null), stdout and
    stderr /dev/null, the working directory this one."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    _CLIENT_ENDS.append(theirs)
    null = os.open(os.devnull, os.O_RDWR)
    fds = [os.dup(null) if stdin is None else stdin, os.dup(null), os.dup(null)]
    fds.append(os.open(".", os.O_PATH | os.O_DIRECTORY))
    env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
    request = Request.decode(
        _wire.encode_request(_wire.code_fingerprint(), _wire.process_context(), ["botguard", "scan"], env)
    )
    pending = srv._Pending(ours, request, fds)
    server.pending[ours.fileno()] = pending
    server.selector.register(ours, selectors.EVENT_READ, server._pending_readable)
    return pending
