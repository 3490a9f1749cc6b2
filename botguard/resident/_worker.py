"""The server's child: become the client's process as far as a command can tell, run the
ordinary command line, end with its exit status.

What a command can see of its process is set from the request: descriptors 0-2 (the client's
own, passed over the socket), the text streams on them as the interpreter makes them at start,
the working directory, umask, environment (with what botguard sets for its libraries set again),
argv, scheduling priority and resource limits, default signal handlers. What the server checked
equal instead (it is fixed when the interpreter and the libraries start): the code, the
variables read at start-up, the groups and the cores. Then the command runs, and the child ends
as the interpreter would: other threads joined, exit handlers run, the streams flushed.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import NoReturn

from botguard.loading import tune_libraries
from botguard.resident._wire import LIMITS
from botguard.resident.records import Request

_PR_SET_PDEATHSIG = 1
#: The signals the server handles (it stops on them): held blocked across a fork, see signals_held.
HELD = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
#: Exit status of an interpreter whose stdout could not be flushed at exit (as CPython's).
_FLUSH_FAILED = 120


@contextmanager
def signals_held() -> Iterator[set[int | signal.Signals]]:
    """Block the signals the server handles itself (:data:`HELD`) for the block; yields the
    mask before it. Fork inside it: a signal sent to a new child before it reset the server's
    handlers would otherwise run the server's handler there, be lost (the command goes on; a
    killed client's command would run for ever) and write to the server's wake-up descriptor,
    still open in the child, which stops the server. Blocked, it waits until the child reset
    them (:func:`run_command`) and then acts as on a new interpreter."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def run_command(
    request: Request,
    fds: list[int],
    run: Callable[[list[str]], int],
    server_pid: int,
    let_go: Callable[[], None],
    mask: set[int | signal.Signals] | None = None,
) -> NoReturn:
    """Run ``request`` in this freshly forked child and exit; ``let_go`` closes the server's
    descriptors here; ``mask``: the signal mask to restore once the handlers are reset and the
    client's streams taken (the fork ran inside :func:`signals_held`)."""
    status = 1
    try:
        own_process_group(0)
        _die_with(server_pid)
        let_go()
        _signals_as_at_start()
        _adopt(request, fds)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one held meanwhile acts now
    except KeyboardInterrupt:  # Ctrl-C before the command started: as an interpreter starting
        _die_of_sigint()
    except BaseException as exc:  # a directory removed since the client asked, a limit refused:
        with suppress(BaseException):  # whatever it is, it must not return into the server's code
            sys.stderr.write(f"botguard: error: the resident server cannot run the command: {exc}\n")
            sys.stderr.flush()
        os._exit(1)
    try:
        status = _run(run, list(request.argv[1:]))
        status = _interpreter_exit(status)
    except KeyboardInterrupt:  # a Ctrl-C after the set-up, before _run's own guard: as the
        with suppress(BaseException):  # interpreter ends on one (exit handlers, streams, SIGINT)
            _interpreter_exit(status)
        _die_of_sigint()
    finally:
        os._exit(status)


def _die_of_sigint() -> NoReturn:
    """End by SIGINT, as an interpreter that a KeyboardInterrupt stopped (a shell sees 130)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(130)  # not reached: SIGINT ends this process


def own_process_group(pid: int) -> None:
    """Make the command ``pid`` (0: this process) a process group of its own, so the server's
    signals reach what it starts too. Called by both the server and the child (whichever runs
    first), as a shell makes a job's group; the server's call fails once the child's own ran
    or when it ended already, which changes nothing."""
    with suppress(OSError):
        os.setpgid(pid, 0)


def _die_with(server_pid: int) -> None:
    """End (SIGKILL) when the server ends: a command whose client was told the server died must
    not go on writing to the client's streams."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:  # it died before the line above
        os._exit(1)


def _signals_as_at_start() -> None:
    """Signal handlers as a new interpreter has them (the server set its own), no wake-up
    descriptor."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _adopt(request: Request, fds: list[int]) -> None:
    """Take the client's streams, directory, umask, environment, argv, priority and limits."""
    *streams, directory = fds
    for target, fd in enumerate(streams):
        os.dup2(fd, target)
        os.close(fd)
    _standard_streams()
    os.fchdir(directory)  # the client's directory itself: its path may name another one by now
    os.close(directory)
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.environ)
    tune_libraries(inherited=True)
    sys.argv = list(request.argv)
    os.setpriority(os.PRIO_PROCESS, 0, request.nice)
    for name, limit in zip(LIMITS, request.limits):
        resource.setrlimit(getattr(resource, name), limit)


def _standard_streams() -> None:
    """sys.stdin/stdout/stderr on descriptors 0-2 as CPython makes them at start: buffered,
    line-buffered on a terminal (stderr always), the server's encoding and error handlers (the
    variables that choose them were checked equal)."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old = getattr(sys, f"__{name}__")
        mode = "r" if fd == 0 else "w"
        buffered = open(fd, mode + "b", buffering=-1, closefd=False)  # noqa: SIM115
        buffered.raw.name = f"<{name}>"  # type: ignore[attr-defined]
        stream = io.TextIOWrapper(
            buffered, encoding=old.encoding, errors=old.errors, newline="\n",
            line_buffering=fd == 2 or os.isatty(fd),
        )  # fmt: skip
        stream.mode = mode  # type: ignore[misc]
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _run(run: Callable[[list[str]], int], args: list[str]) -> int:
    """``run(args)``, with what escapes it handled as the interpreter handles it at top level."""
    try:
        return run(args)
    except SystemExit as done:
        return _exit_code(done.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1


def _exit_code(code: object) -> int:
    """The status ``sys.exit(code)`` ends a process with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _interpreter_exit(status: int) -> int:
    """What the interpreter does before a process ends: join the threads, run the exit
    handlers, flush the streams (a failed stdout flush is exit 120, the error on stderr)."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception as exc:
            if stream is sys.stdout:
                status = _FLUSH_FAILED
                with suppress(Exception):
                    sys.stderr.write(f"Exception ignored in: {stream!r}\n")
                    sys.stderr.write("".join(traceback.format_exception_only(exc)))
                    sys.stderr.flush()
    return status
