"""The resident server: imports botguard's scan path once, then forks a child per command.

One thread, one loop over a Unix socket (``SOCK_SEQPACKET``: one message is one request). The
server itself never runs a polars query or reads a log: polars' thread pool starts on first use,
and a fork after it started may deadlock the child. It only checks requests, forks, passes
signals on and reports exit statuses; the child (:mod:`botguard.resident._worker`) runs the
ordinary command line, so a command served here prints what it would print in its own process.

A request's life: accepted -> checked (same user, groups, code, start-up environment) -> "ready"
-> the client's "go" -> forked -> "exit N" or "signal N". The fork waits for "go" so that a
client that gave up waiting (and runs the command itself) never has it run twice.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import resource
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from importlib import import_module

from botguard.loading import collector_off
from botguard.resident import _peer, _wire, _worker
from botguard.resident.records import Request, ResidentError, ServerStatus, Start, mismatch

__all__ = [
    "WARM_MODULES",
    "Server",
    "listening",
    "refusal",
    "run_daemon",
    "server_status",
    "stop_server",
    "warm",
]

#: What a scan imports, loaded once by the server so its children do not (the verb's module
#: imports the reading and judging stages; the rest a scan imports when it reaches the model,
#: the decision catalogue and the JSON writer). tests/resident checks a scan imports no more.
WARM_MODULES = (
    "botguard.cli.scan", "numpy", "botguard.model", "botguard.model.clients", "botguard.model.replay",
    "botguard.model.stream", "botguard.model.store", "botguard.decide", "botguard.decide.agents",
    "botguard.decide.safety", "botguard.decide.catalog_lookup", "botguard.decide.match", "botguard.report",
    "botguard.report.json", "botguard.report.csv", "botguard.report.table", "botguard.rules", "numpy.ma",
    "ctypes", "difflib", "pickle",
)  # fmt: skip
#: Signals a client may ask the server to send to its command.
FORWARDABLE = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP, signal.SIGCONT})
#: Seconds a connection may take to send its request, and then its "go" (a client sends each at
#: once): one that sends nothing is closed, so idle connections cannot use up the descriptors.
REQUEST_SECONDS = 2.0
GO_SECONDS = 5.0
#: Seconds the server stops accepting after accept() failed for want of descriptors (EMFILE,
#: ENFILE): the listener would stay readable and the loop spin until some are closed.
ACCEPT_PAUSE_SECONDS = 0.25
#: Descriptors kept free of pending connections (the server's own, running commands' pidfds and
#: connections); each pending connection may hold five (itself and a request's four).
RESERVED_DESCRIPTORS = 24


def run_daemon(
    path: str, run: Callable[[list[str]], int], environ: Mapping[str, str], log: Callable[[str], None]
) -> None:
    """``botguard daemon``: serve at ``path`` until stopped. ``environ`` is the environment as
    the user gave it (before botguard set its libraries' variables); ``run`` runs a command line."""
    standard_streams_open()
    start = Start.of_this_process(environ)  # before the imports: a file edited meanwhile is noticed
    with listening(path) as listener:
        warm()
        log(f"botguard: resident server {os.getpid()} serving at {path}")
        Server(listener, run, start, log).serve_forever()
    log(f"botguard: resident server {os.getpid()} stopped")


def warm(modules: tuple[str, ...] = WARM_MODULES) -> None:
    """Import ``modules`` and the compiled kernels (no query runs: importing polars does not
    start its pool), load the bundled crawler catalogue with its matcher and the shipped IP
    range lists (plain Python objects from their JSON forms: no query either), the ASN
    table's arrays (numpy, from the start-up cache, when a scan has made them) and the log
    formats' parse expressions (built, not run), then freeze
    everything alive out of the collector's sight, as a command's first imports are."""
    from botguard.catalog import keep_bundled_catalog
    from botguard.identity.asn import keep_bundled_asn
    from botguard.identity.ranges import keep_bundled_ranges
    from botguard.logs.formats import FORMATS
    from botguard.logs.text import build_expressions
    from botguard.native import import_kernels

    with collector_off():
        for name in modules:
            import_module(name)
        import_kernels()
        keep_bundled_catalog()
        keep_bundled_ranges()
        keep_bundled_asn()
        build_expressions(FORMATS.values())
    gc.freeze()


@contextmanager
def listening(path: str) -> Iterator[socket.socket]:
    """A socket listening at ``path`` (0600, in a 0700 directory of this user), removed when
    the block ends. ResidentError when another server holds it or the directory is not private."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if not _wire.private_directory(directory):
        raise ResidentError(f"{directory} must be a directory of this user that nobody else can enter (0700)")
    if len(os.fsencode(path)) >= 108:
        raise ResidentError(f"socket path too long for a Unix socket (108 bytes): {path}")
    lock = os.open(os.path.join(directory, _wire.LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResidentError(
                f"a resident server already runs at {path} (botguard daemon --stop)"
            ) from None
        with suppress(FileNotFoundError):
            os.unlink(path)  # a server that died left it: nobody holds the lock
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        umask = os.umask(0o177)
        try:
            listener.bind(path)
        finally:
            os.umask(umask)
        os.chmod(path, 0o600)
        listener.listen(64)
        try:
            yield listener
        finally:
            listener.close()
            with suppress(FileNotFoundError):
                os.unlink(path)
    finally:
        os.close(lock)


@dataclass
class _Pending:
    """A connection whose request is not read yet, or was accepted and waits for "go"."""

    conn: socket.socket
    request: Request | None = None
    fds: list[int] = field(default_factory=list)
    accepted_ticks: int = field(default_factory=_peer.boot_ticks)  # when accepted (since boot)
    deadline: float = field(default_factory=lambda: time.monotonic() + REQUEST_SECONDS)


@dataclass
class _Running:
    """A forked command: its client's connection (None once the client is gone) and its pidfd."""

    conn: socket.socket | None
    pid: int
    pidfd: int


class Server:
    """The loop. ``run`` is what a child calls with the command's arguments (the CLI's main)."""

    def __init__(
        self,
        listener: socket.socket,
        run: Callable[[list[str]], int],
        start: Start,
        log: Callable[[str], None],
    ) -> None:
        self.listener = listener
        self.log = log
        self.run = run
        self.start = start
        self.started = time.time()
        self.served = 0
        self.stopping = False
        self.selector = selectors.DefaultSelector()
        self.pending: dict[int, _Pending] = {}
        self.running: dict[int, _Running] = {}  # by pidfd
        self.waiting_stop: list[socket.socket] = []  # `daemon --stop` clients: closed when the process ends
        self.wake_read, self.wake_write = socket.socketpair()
        self.max_pending = max_pending()
        self.accepting_again: float | None = None  # monotonic time accepting resumes, when paused
        self.asn_kept = False  # whether the ASN table's arrays are kept (see warm)

    def serve_forever(self) -> None:
        """Serve until SIGTERM, SIGINT or ``daemon --stop``; then finish the running commands."""
        for sock in (self.wake_read, self.wake_write):
            sock.setblocking(False)
        signal.set_wakeup_fd(self.wake_write.fileno(), warn_on_full_buffer=False)
        for signum in _worker.HELD:
            signal.signal(signum, _noted)
        self.selector.register(self.listener, selectors.EVENT_READ, self._accept)
        self.selector.register(self.wake_read, selectors.EVENT_READ, self._woken)
        while not (self.stopping and not self.running and not self.pending):
            for key, _ in self.selector.select(self._next_timeout()):
                if self._registered(key.fileobj):  # an earlier event of this round may have closed it
                    self._handle(key)
            self._expire()

    def _next_timeout(self) -> float | None:
        """Seconds until the next pending deadline or the end of an accept pause, or None."""
        times = [pending.deadline for pending in self.pending.values()]
        if self.accepting_again is not None:
            times.append(self.accepting_again)
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _expire(self) -> None:
        """Close the pending connections past their deadline (a "go" already there is run), and
        accept again once a pause is over."""
        now = time.monotonic()
        for pending in [pending for pending in self.pending.values() if pending.deadline <= now]:
            try:
                if pending.request is not None:
                    self._pending_readable(pending.conn)  # its "go" may be waiting: then it runs
                if self.pending.get(pending.conn.fileno()) is pending:
                    self._drop(pending)
            except Exception as exc:
                self.log(f"botguard: resident server: {type(exc).__name__}: {exc}")
        if self.accepting_again is not None and self.accepting_again <= now:
            self.accepting_again = None
            if not self.stopping:
                self.selector.register(self.listener, selectors.EVENT_READ, self._accept)

    def _handle(self, key: selectors.SelectorKey) -> None:
        """One event; a failure is logged and ends that request only (never the server and the
        commands it runs)."""
        try:
            key.data(key.fileobj)
        except Exception as exc:
            self.log(f"botguard: resident server: {type(exc).__name__}: {exc}")

    def _registered(self, fileobj: object) -> bool:
        try:
            self.selector.get_key(fileobj)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            return False
        return True

    def _woken(self, _: object) -> None:
        """A signal arrived (its number is in the wake-up bytes): stop accepting commands."""
        with suppress(BlockingIOError):
            self.wake_read.recv(64)
        self._stop()

    def _pause_accepting(self) -> None:
        """No descriptor to accept with: leave the listener alone a moment (the pending
        connections' deadlines free some), instead of spinning on its readiness."""
        self.selector.unregister(self.listener)
        self.accepting_again = time.monotonic() + ACCEPT_PAUSE_SECONDS

    def _stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            if self.accepting_again is None:
                self.selector.unregister(self.listener)
            self.listener.close()

    def _accept(self, _: object) -> None:
        try:
            conn, _address = self.listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self._pause_accepting()
            return
        if _peer.peer_credentials(conn)[1] != os.geteuid():
            conn.close()  # another user: refused before reading anything it sent
            return
        if len(self.pending) >= self.max_pending:
            conn.close()  # saturated: the client sees the end at once and runs the command itself
            return
        conn.setblocking(False)
        self.pending[conn.fileno()] = _Pending(conn)
        self.selector.register(conn, selectors.EVENT_READ, self._pending_readable)

    def _pending_readable(self, conn: socket.socket) -> None:
        pending = self.pending[conn.fileno()]
        if pending.request is None:
            self._read_request(pending)
            return
        message = _received(conn)
        if message is None:
            return
        if message == b"go":  # promised by "ready": run even when a stop came in between
            self._fork(pending)
        else:  # the client gave up waiting and runs the command itself
            self._drop(pending)

    def _read_request(self, pending: _Pending) -> None:
        try:
            data, fds, flags, _ = socket.recv_fds(pending.conn, _wire.MAX_REQUEST, 4)
        except BlockingIOError:
            return
        except OSError:
            data, fds, flags = b"", [], 0
        pending.fds = fds
        if data in (b"status", b"stop") and not fds:
            self._control(pending, data)
            return
        refusal = self._refusal(pending, data, fds, flags)
        if refusal is not None:
            with suppress(OSError):
                pending.conn.send(b"refused " + refusal.encode())
            self._drop(pending)
            return
        pending.conn.send(b"ready")
        pending.deadline = time.monotonic() + GO_SECONDS

    def _refusal(self, pending: _Pending, data: bytes, fds: list[int], flags: int) -> str | None:
        """Why this request is not run here (the client runs it itself), or None."""
        if self.stopping:
            return "stopping"
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 4:
            return "request"
        try:
            request = Request.decode(data)
        except ValueError:
            return "request"
        facts = _peer.read_peer(pending.conn, pending.accepted_ticks)
        if facts is None:
            return "peer"  # what decides which files it may reach cannot be read for certain
        # What the server read of the process, never what the request says of it:
        request = replace(request, privileges=facts.privileges, namespaces=facts.namespaces)
        pending.request = request
        return refusal(request, self.start, _peer.peer_credentials(pending.conn)[2])

    def _control(self, pending: _Pending, command: bytes) -> None:
        """``daemon --status`` (a JSON reply) or ``daemon --stop`` (its connection closes when
        this process ends)."""
        if command == b"stop":
            self._stop()
            self.selector.unregister(pending.conn)
            del self.pending[pending.conn.fileno()]
            with suppress(OSError):
                pending.conn.send(b"stopping %d" % len(self.running))
            self.waiting_stop.append(pending.conn)
            return
        status = {
            "pid": os.getpid(), "started": self.started, "served": self.served, "running": len(self.running),
            "code": self.start.code.decode("utf-8", "surrogateescape"), "environment": self.start.environment,
            "groups": self.start.groups, "cpus": self.start.cpus, "nice": self.start.nice,
            "limits": self.start.limits,
            "privileges": self.start.privileges.decode("utf-8", "surrogateescape"),
            "namespaces": self.start.namespaces.decode("utf-8", "surrogateescape"),
        }  # fmt: skip
        with suppress(OSError):
            pending.conn.send(json.dumps(status).encode())
        self._drop(pending)

    def _drop(self, pending: _Pending) -> None:
        for fd in pending.fds:
            os.close(fd)
        pending.fds = []
        self.selector.unregister(pending.conn)
        del self.pending[pending.conn.fileno()]
        pending.conn.close()

    def _fork(self, pending: _Pending) -> None:
        assert pending.request is not None
        request, fds = pending.request, pending.fds
        self.selector.unregister(pending.conn)
        del self.pending[pending.conn.fileno()]
        if not self.asn_kept:  # made by an earlier command since the start: numpy reads it
            self.asn_kept = _keep_asn()
        _refresh_memo()
        server_pid = os.getpid()
        with _worker.signals_held() as mask:  # the child lets them through once its handlers are reset
            pid = os.fork()
            if pid == 0:  # the child: never returns
                try:
                    _worker.run_command(
                        request, fds, self.run, server_pid, lambda: self._close_in_child(pending.conn), mask
                    )
                finally:  # run_command raised before its own guard (a call of the wrong shape):
                    os._exit(1)  # a child back in this loop would be a second server on the socket
        _worker.own_process_group(pid)  # here too (as a shell does): signalled before the child ran
        for fd in fds:
            os.close(fd)  # the child's now: a pipe's reader must see its end when the child ends
        pidfd = os.pidfd_open(pid)
        self.running[pidfd] = _Running(pending.conn, pid, pidfd)
        self.selector.register(pending.conn, selectors.EVENT_READ, self._client_readable)
        self.selector.register(pidfd, selectors.EVENT_READ, self._ended)

    def _client_readable(self, conn: socket.socket) -> None:
        """A forwarded signal, or the client gone (killed): the command stops as it would have."""
        job = next(job for job in self.running.values() if job.conn is conn)
        message = _received(conn)
        if message is None:
            return
        kind, _, number = message.partition(b" ")
        if kind == b"signal" and number.isdigit() and int(number) in FORWARDABLE:
            # Not reaped yet: the pid is still this child's. SIGTSTP is discarded in an orphaned
            # process group (a service's): SIGSTOP stops the command as Ctrl-Z stops one in a shell.
            signum = signal.SIGSTOP if int(number) == signal.SIGTSTP else int(number)
            _signal_job(job.pid, signum)
        elif not message:  # as a terminal's hang-up ends a job: a stopped one too (SIGTERM
            _signal_job(job.pid, signal.SIGTERM)  # stays pending behind SIGSTOP until a SIGCONT)
            _signal_job(job.pid, signal.SIGCONT)
            self.selector.unregister(conn)
            conn.close()
            job.conn = None

    def _ended(self, pidfd: int) -> None:
        job = self.running.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(job.pid, 0)
        self.served += 1
        if job.conn is None:
            return
        ended = (
            b"signal %d" % os.WTERMSIG(status)
            if os.WIFSIGNALED(status)
            else b"exit %d" % os.WEXITSTATUS(status)
        )
        with suppress(OSError):
            job.conn.send(ended)
        self.selector.unregister(job.conn)
        job.conn.close()

    def _close_in_child(self, own: socket.socket) -> None:
        """In a new child: let go of every descriptor the server holds (the listener, its own
        and other clients' connections, their streams, pidfds), without closing them for the
        server (the socket objects are detached first, so none closes a number reused later)."""
        with suppress(OSError):
            self.selector.close()
        sockets = [own, self.wake_read, self.wake_write, *self.waiting_stop]
        sockets += [pending.conn for pending in self.pending.values()]
        sockets += [job.conn for job in self.running.values() if job.conn is not None]
        if not self.stopping:
            sockets.append(self.listener)
        for sock in sockets:
            os.close(sock.detach())
        for fd in [fd for pending in self.pending.values() for fd in pending.fds] + list(self.running):
            os.close(fd)
        self.pending.clear()
        self.running.clear()


def _signal_job(pid: int, signum: int) -> None:
    """Send ``signum`` to a command's process group (its own, see _fork): what the command
    started (a Dask cluster's workers, a program it waits for) gets it too, as a terminal's
    signal reaches a whole job. The command is not reaped yet, so its group still exists; its
    pid alone if the group could not be made (a child that died before setpgid)."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        os.kill(pid, signum)


def _refresh_memo() -> None:
    """The agents earlier children classified, for the next (catalog.memo): imported here, as
    warm() imports the catalogue (a client importing this module must not load it)."""
    from botguard.catalog.loader import refresh_kept_memo

    refresh_kept_memo()


def _keep_asn() -> bool:
    """:func:`botguard.identity.asn.keep_bundled_asn` (imported here: `daemon --status` and
    `--stop` import this module and need neither polars nor numpy)."""
    from botguard.identity.asn import keep_bundled_asn

    return keep_bundled_asn()


def max_pending() -> int:
    """How many connections may wait for their request or "go" at once: what this process's
    descriptor limit leaves after RESERVED_DESCRIPTORS, five per connection, 4 to 64."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = (soft - RESERVED_DESCRIPTORS) // 5 if soft != resource.RLIM_INFINITY else 64
    return min(64, max(4, room))


def refusal(request: Request, start: Start, peer_gid: int) -> str | None:
    """Why a server that started as ``start`` will not run ``request``, or None."""
    if peer_gid not in start.groups:
        return "groups"
    if "" in request.environ:  # `=value`: execve keeps it, os.environ cannot set it in a child
        return "environment"
    return mismatch(Start.of_request(request), start)


def _noted(signum: int, frame: object) -> None:
    """The wake-up descriptor carries the signal to the loop; nothing else to do here."""


def server_status(path: str) -> ServerStatus | None:
    """What the server at ``path`` says of itself, or None when none answers."""
    reply = _control(path, b"status")
    if not reply:
        return None
    said = json.loads(reply)
    start = Start(
        code=said["code"].encode("utf-8", "surrogateescape"), environment=said["environment"],
        groups=tuple(said["groups"]), cpus=tuple(said["cpus"]), nice=said["nice"],
        limits=tuple((soft, hard) for soft, hard in said["limits"]),
        privileges=said["privileges"].encode("utf-8", "surrogateescape"),
        namespaces=said["namespaces"].encode("utf-8", "surrogateescape"),
    )  # fmt: skip
    return ServerStatus(
        pid=said["pid"], started=said["started"], served=said["served"], running=said["running"], start=start
    )


def stop_server(path: str) -> int | None:
    """Ask the server at ``path`` to stop; wait until it has ended. The number of commands it was
    still running when asked, or None when none answers."""
    with _connected(path) as conn:
        if conn is None:
            return None
        conn.send(b"stop")
        reply = conn.recv(64)
        if not reply.startswith(b"stopping "):
            return None
        while conn.recv(64):  # closed when the server's process ends
            pass
        return int(reply.split()[1])


def _control(path: str, command: bytes) -> bytes | None:
    with _connected(path) as conn:
        if conn is None:
            return None
        conn.send(command)
        return conn.recv(_wire.MAX_REQUEST) or None


@contextmanager
def _connected(path: str) -> Iterator[socket.socket | None]:
    """A connection to this user's server at ``path``, or None."""
    if not _wire.private_directory(os.path.dirname(path) or "."):
        yield None
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
        if _peer.peer_credentials(conn)[1] != os.geteuid():
            raise ConnectionRefusedError(path)
    except OSError:
        conn.close()
        yield None
        return
    with conn:
        yield conn


def standard_streams_open() -> None:
    """Make sure descriptors 0-2 are open (on /dev/null): a request's descriptors must never
    land on them in the server."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # takes the lowest free number: this one


def _received(conn: socket.socket) -> bytes | None:
    """A client's short message: None when nothing has come yet, b"" when the client is gone."""
    try:
        return conn.recv(64)
    except BlockingIOError:
        return None
    except OSError:
        return b""
