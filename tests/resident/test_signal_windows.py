"""Hostile review (bg/hostile9) of the resident server's signal and fork windows: a signal at
each step between a client's "go" and its command's end, a client gone between "ready" and
"go" or right after "go", many at once, and a stop of the server while it forks.

Real processes and a real socket, as test_daemon.py: a server started with ``python -m
botguard daemon`` in a private directory of the test's own, clients started as a user starts
them (or, for the windows no user can hit on purpose, a real client with one step replaced).
"""

from __future__ import annotations

import array
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "access.log"
ROBOTS = ROOT / "examples" / "robots.txt"
BOTGUARD = [sys.executable, "-m", "botguard"]
SCAN_STDIN = ["scan", "-", "--robots", str(ROBOTS), "--no-dns", "--no-save"]


@dataclass(frozen=True)
class Daemon:
    """A running server and the environment its clients run in."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def children(self) -> list[int]:
        """The server's child processes (commands running, or not reaped yet)."""
        text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return [int(pid) for pid in text.split()]

    def served(self) -> int:
        """How many commands the server has served (`daemon --status`)."""
        shown = subprocess.run(
            [*BOTGUARD, "daemon", "--status"], env=self.env, capture_output=True, check=True
        )
        return int(shown.stdout.split(b" commands served")[0].rsplit(b" ", 1)[1])


def start_daemon(socket_dir: Path) -> Daemon:
    """A server in a session of its own (as a service runs) at ``socket_dir``/daemon.sock."""
    socket_dir.chmod(0o700)
    env = {name: value for name, value in os.environ.items() if name != "BOTGUARD_NO_DAEMON"}
    env["BOTGUARD_DAEMON_SOCKET"] = str(socket_dir / "daemon.sock")
    proc = subprocess.Popen([*BOTGUARD, "daemon"], env=env, stderr=subprocess.PIPE, cwd=socket_dir,
                            start_new_session=True)  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert b"serving at" in line, line + proc.stderr.read()
    return Daemon(proc, env)


def stop(daemon: Daemon) -> None:
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = start_daemon(tmp_path_factory.mktemp("windows-run"))
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture
def own_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A server of one test's own (the test stops it)."""
    running = start_daemon(tmp_path_factory.mktemp("windows-own"))
    try:
        yield running
    finally:
        stop(running)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def reading_stdin(pid: int) -> bool:
    """Whether a thread of process ``pid`` waits in read(0, ...) (x86-64 and arm64 numbers)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "syscall").read_text().split()[:2] in (["0", "0x0"], ["63", "0x0"]):
                return True
        except OSError:
            continue
    return False


# A client whose signal disposition is the one its parent left it (`nohup` ignores SIGHUP, a
# script's background job SIGINT): set here, then the ordinary command replaces this process.
IGNORING = "import os, signal, sys; signal.signal(int(sys.argv[1]), signal.SIG_IGN); os.execv(sys.executable, sys.argv[2:])"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT])
def test_a_signal_the_client_ignores_does_not_end_its_served_command(daemon: Daemon, signum: int) -> None:
    """Found on main 25cef53: the client's forwarders replaced SIG_IGN, so `nohup botguard scan
    ...` served by the daemon died of the terminal's hang-up (exit 129) where the same command in
    its own process ignored it and finished (exit 0)."""
    outcomes = []
    for served in (True, False):
        env = dict(daemon.env, **({} if served else {"BOTGUARD_NO_DAEMON": "1"}))
        before = daemon.served()
        proc = subprocess.Popen(
            [sys.executable, "-c", IGNORING, str(int(signum)), *BOTGUARD, *SCAN_STDIN], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(EXAMPLE.read_bytes()[:5000])
        proc.stdin.flush()
        if served:
            wait_for(lambda: len(daemon.children()) == 1, "the daemon runs the scan")
            (command,) = daemon.children()
        else:
            command = proc.pid
        wait_for(lambda: reading_stdin(command), "the scan reads its stdin")  # noqa: B023
        proc.send_signal(signum)
        time.sleep(0.5)  # a forwarded signal reaches the command well within this
        out, err = proc.communicate(timeout=120)
        outcomes.append((proc.returncode, out, err))
        assert daemon.served() == before + served
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 0 and outcomes[0][1].startswith(b"20 lines"), outcomes[0]


# A real client whose step after "go" starts with the signal, as a Ctrl-C that comes between
# "go" and the client's forwarders (it cannot be timed from outside: the window is a few
# bytecodes, as the server's own fork window was until CI's load hit it).
LATE_SIGNAL = """
import os, sys
from botguard.resident import client
original, signum = client._outcome, int(sys.argv[1])
def late(*args):
    os.kill(os.getpid(), signum)
    return original(*args)
client._outcome = late
sys.argv = ["botguard", *sys.argv[2:]]
from botguard.__main__ import run
run()
"""


def test_a_ctrl_c_between_go_and_the_forwarders_ends_the_command_without_a_traceback(daemon: Daemon) -> None:
    """Found on main 25cef53: the KeyboardInterrupt escaped the client with a traceback (exit
    1), and the command ran on until the client's end closed the connection. Held from "go" on,
    the signal is passed on: the command ends as a Ctrl-C ends it."""
    before = daemon.served()
    read, write = os.pipe()  # the scan's stdin never ends: only the signal can end the command
    try:
        done = subprocess.run(
            [sys.executable, "-c", LATE_SIGNAL, str(int(signal.SIGINT)), *SCAN_STDIN], env=daemon.env,
            stdin=read, capture_output=True, cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(read)
        os.close(write)
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    # Ended by SIGINT before its command started (as an interpreter starting), or interrupted.
    assert done.returncode in (-signal.SIGINT, 130), (done.returncode, done.stderr)
    wait_for(lambda: not daemon.children(), "the command ended and was reaped")
    assert daemon.served() == before + 1


def request_fds() -> list[int]:
    """Descriptors 0-2 for a raw request (a pipe's reader that never ends as stdin, /dev/null
    out) and the working directory; the caller closes them."""
    read, write = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    return [read, null, os.dup(null), os.open(".", os.O_PATH | os.O_DIRECTORY), write]


def fresh_fingerprint() -> bytes:
    """The code fingerprint a client started as a user starts it has (this process's sys.path
    holds pytest's own entries, which the server would refuse as other code)."""
    script = (
        "import sys; from botguard.resident import _wire; sys.stdout.buffer.write(_wire.code_fingerprint())"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=ROOT, check=True).stdout


def raw_client(env: Mapping[str, str]) -> tuple[socket.socket, list[int]]:
    """A connection that sent a genuine scan request of stdin and was told "ready"; and the
    descriptors to close afterwards (the request's, and its stdin's writer)."""
    from botguard.resident import _wire

    fds = request_fds()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.settimeout(30)
    conn.connect(env["BOTGUARD_DAEMON_SOCKET"])
    environ = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    request = _wire.encode_request(
        fresh_fingerprint(), _wire.process_context(), ["botguard", *SCAN_STDIN], environ
    )
    conn.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds[:4]))])
    answer = conn.recv(64)
    assert answer == b"ready", answer
    return conn, fds


@pytest.mark.parametrize("said_go", [False, True])
def test_many_clients_gone_at_once_around_go_leave_no_command(own_daemon: Daemon, said_go: bool) -> None:
    """Twelve clients that end at once, right before "go" (nothing may run) or right after it
    (each command is ended, its stdin a pipe that never ends): the server runs no command
    afterwards, stays up and serves the next client. Before 25cef53 (CI under load) a command
    killed this early ran on and the server stopped."""
    before = own_daemon.served()
    clients = [raw_client(own_daemon.env) for _ in range(12)]
    for conn, _ in clients:
        if said_go:
            conn.send(b"go")
    for conn, fds in clients:
        conn.close()
        for fd in fds:
            os.close(fd)
    ended = before + (12 if said_go else 0)
    wait_for(lambda: own_daemon.served() == ended, "every command said go to ran and ended", seconds=120)
    wait_for(lambda: not own_daemon.children(), "every command was reaped", seconds=120)
    assert own_daemon.proc.poll() is None, "the server is still up"
    done = subprocess.run([*BOTGUARD, *SCAN_STDIN], env=own_daemon.env, input=EXAMPLE.read_bytes()[:5000],
                          capture_output=True, cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith(b"20 lines"), done.stderr
    assert own_daemon.served() == ended + 1  # and none of those that never said go ran


def test_a_server_stopped_while_it_forks_finishes_every_command_it_said_go_to(
    own_daemon: Daemon, tmp_path: Path
) -> None:
    """SIGTERM to the server while clients are being forked: each client ends as the command
    ends in its own process (served before the stop, or run by itself after it), never with
    the "server stopped" error, and the server ends with no child left."""
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(EXAMPLE.read_bytes().splitlines(keepends=True)[:200]))
    args = ["scan", str(log), "--robots", str(ROBOTS), "--no-dns", "--no-save", "--format", "json"]
    alone = subprocess.run([*BOTGUARD, *args], env=dict(own_daemon.env, BOTGUARD_NO_DAEMON="1"),
                           capture_output=True, cwd=ROOT, timeout=300, check=True)  # fmt: skip
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    clients = [subprocess.Popen([*BOTGUARD, *args], env=own_daemon.env, cwd=ROOT, **pipes) for _ in range(6)]
    wait_for(lambda: bool(own_daemon.children()), "the server forks the first command")
    own_daemon.proc.send_signal(signal.SIGTERM)
    for proc in clients:
        out, err = proc.communicate(timeout=300)
        assert (proc.returncode, out, err) == (0, alone.stdout, alone.stderr)
    assert own_daemon.proc.wait(timeout=120) == 0


# A server of the real code whose command starts a program of its own and waits for it, as a
# `scan --engine dask` starts its workers: the program's pid goes to a file the test reads.
FORKING_SERVER = """
import os, sys
from botguard.resident import server as srv
from botguard.resident.records import Start

STARTED = sys.argv[2]  # the command's argv is the client's

def run(args):
    pid = os.spawnvp(os.P_NOWAIT, "sleep", ["sleep", "300"])
    with open(STARTED, "w") as out:
        out.write(str(pid))
    os.waitpid(pid, 0)
    return 0

with srv.listening(sys.argv[1]) as listener:
    print("serving", flush=True)
    srv.Server(listener, run, Start.of_this_process(os.environ), print).serve_forever()
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (not ended, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_client_reaches_what_its_served_command_started(tmp_path: Path, signum: int) -> None:
    """Found on main 25cef53: the server passed a client's signal to its command's pid alone, so
    what the command had started (a Dask cluster's workers, any program it waits for) ran on
    after a Ctrl-C, where the terminal's Ctrl-C reaches the whole job of a command run in its
    own process. Each command is now a process group of its own and signals go to the group."""
    socket_dir = tmp_path / "run"
    socket_dir.mkdir(mode=0o700)
    env = {name: value for name, value in os.environ.items() if name != "BOTGUARD_NO_DAEMON"}
    env["BOTGUARD_DAEMON_SOCKET"] = str(socket_dir / "daemon.sock")
    started = tmp_path / "started.pid"
    server = subprocess.Popen([sys.executable, "-c", FORKING_SERVER, env["BOTGUARD_DAEMON_SOCKET"], str(started)],
                              env=env, stdout=subprocess.PIPE, cwd=ROOT, start_new_session=True)  # fmt: skip
    grandchild = None
    try:
        assert server.stdout is not None and server.stdout.readline() == b"serving\n"
        # Its streams on /dev/null: a program that outlives the command keeps a pipe open too.
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        client = subprocess.Popen([*BOTGUARD, *SCAN_STDIN], env=env, cwd=ROOT, process_group=0, **quiet)
        wait_for(
            lambda: started.exists() and started.read_text() != "", "the served command started its program"
        )
        grandchild = int(started.read_text())
        os.killpg(client.pid, signum)  # as a terminal signals its foreground job
        client.wait(timeout=60)
        wait_for(lambda: not alive(grandchild), "the program the command started ended too", seconds=10)
    finally:
        if grandchild is not None and alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


# The real Server forks a real request; run_command raises in the child before its own guard
# (a wrapper of the wrong signature did, in bench/served_stages.py on bg/small2).
RAISING_CHILD = """
import os
from botguard.resident import _worker
from tests.resident._one_fork import a_pending_scan, a_server

def broken(*args):
    raise TypeError("run_command() takes 5 positional arguments but 6 were given")

_worker.run_command = broken
server = a_server(lambda args: 0, handling_signals=False)
pending = a_pending_scan(server)
parent = os.getpid()
try:
    server._fork(pending)
finally:
    if os.getpid() != parent:
        print("the child returned into the server's code", flush=True)
(job,) = server.running.values()
_, status = os.waitpid(job.pid, 0)
print("child exit", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status), flush=True)
"""


def test_a_child_whose_command_cannot_start_never_returns_into_the_servers_loop() -> None:
    """Found through bg/small2 e75479e: a run_command that raised before its own try (a wrapper
    called with 25cef53's new argument) returned the forked child into the server's loop: two
    servers on one socket, and the client waited for ever. The child now ends (exit 1)."""
    done = subprocess.run([sys.executable, "-c", RAISING_CHILD], capture_output=True, cwd=ROOT, timeout=120,
                          check=False)  # fmt: skip
    assert b"returned into the server" not in done.stdout, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1:] == [b"child exit 1"], done.stdout + done.stderr


# The real Server forks a real request (stdin: a pipe that never ends, so only a signal ends
# the command); one step of the child is wrapped so that the signal comes right before it.
SIGNAL_AT_STEP = """
import os, signal, sys, time
from botguard.resident import _worker, server as srv
from tests.resident._one_fork import a_pending_scan, a_server

signum, step = int(sys.argv[1]), sys.argv[2]
owner = srv.Server if step == "_close_in_child" else _worker
original = getattr(owner, step)
def signalled_first(*args, **kwargs):
    os.kill(os.getpid(), signum)
    return original(*args, **kwargs)
setattr(owner, step, signalled_first)

def command(args):
    os.read(0, 1)  # waits for ever
    return 0

server = a_server(command)
read, write = os.pipe()
pending = a_pending_scan(server, stdin=read)
server._fork(pending)
(job,) = server.running.values()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    pid, status = os.waitpid(job.pid, os.WNOHANG)
    if pid:
        break
    time.sleep(0.05)
else:
    os.kill(job.pid, signal.SIGKILL)
    _, status = os.waitpid(job.pid, 0)
    print("ran-on")
    sys.exit()
try:
    woken = server.wake_read.recv(64)
except BlockingIOError:
    woken = b""
print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status), woken.hex() or "-")
"""


@pytest.mark.parametrize("step", ["_die_with", "_close_in_child", "_signals_as_at_start", "_adopt", "_run"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_at_any_step_of_the_childs_start_ends_the_command_as_a_new_interpreter(
    step: str, signum: int
) -> None:
    """25cef53's window, one step at a time: a signal that comes right before each step of the
    child's start (the last: the command's own call) ends the command as it ends an interpreter
    (SIGTERM, SIGHUP: by the signal; SIGINT: by SIGINT before the command runs, exit 130 once it
    handles it), never runs the server's handler there and never reaches the server."""
    done = subprocess.run([sys.executable, "-c", SIGNAL_AT_STEP, str(int(signum)), step], capture_output=True,
                          cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    ended, woken = done.stdout.split()
    expected = {str(int(signum)).encode()} | ({b"-130"} if signum == signal.SIGINT else set())
    assert (ended in expected, woken) == (True, b"-"), (ended, woken, done.stderr.decode())


def state_of(pid: int) -> str:
    """A process's state letter (``T``: stopped), from /proc/PID/stat."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_ctrl_z_between_go_and_the_forwarders_stops_the_command_too(daemon: Daemon) -> None:
    """Found on main 25cef53: a Ctrl-Z in that window stopped the client alone (SIGTSTP's
    default) while its command ran on. Held from "go" on, it is passed on: both stop, and the
    shell's `fg` (SIGCONT) resumes both."""
    read, write = os.pipe()
    client = subprocess.Popen(
        [sys.executable, "-c", LATE_SIGNAL, str(int(signal.SIGTSTP)), *SCAN_STDIN],
        env=daemon.env,
        stdin=read,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        process_group=0,
    )  # fmt: skip  (a job of its own: Ctrl-Z is discarded in an orphaned process group)
    os.close(read)
    try:
        wait_for(lambda: len(daemon.children()) == 1, "the daemon runs the scan")
        (command,) = daemon.children()
        wait_for(lambda: (state_of(client.pid), state_of(command)) == ("T", "T"), "both stopped", seconds=20)
        client.send_signal(signal.SIGCONT)
        wait_for(
            lambda: "T" not in (state_of(client.pid), state_of(command)), "both running again", seconds=20
        )
        os.write(write, EXAMPLE.read_bytes()[:5000])
        os.close(write)
        write = -1
        out, err = client.communicate(timeout=120)
    finally:
        if write >= 0:
            os.close(write)
        if client.poll() is None:  # a failure above: the client (and so its command) must not stay
            client.kill()
            client.wait()
    assert client.returncode == 0, err
    assert out.startswith(b"20 lines"), out
