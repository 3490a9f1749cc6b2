"""`botguard daemon`: a command served by the resident server is the command run in its own
process, byte for byte; anything the server cannot vouch for runs in the client's own process.

Real processes and a real Unix socket: a server started with ``python -m botguard daemon`` in a
private directory of the test's own, clients started as a user starts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "access.log"
ROBOTS = ROOT / "examples" / "robots.txt"
BOTGUARD = [sys.executable, "-m", "botguard"]


@dataclass(frozen=True)
class Ran:
    code: int
    out: bytes
    err: bytes


@dataclass
class Daemon:
    """A running server: its process and the environment its clients run in."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def status(self) -> dict[str, int]:
        """Commands served and running, as `daemon --status` prints them."""
        shown = subprocess.run(
            [*BOTGUARD, "daemon", "--status"], env=self.env, capture_output=True, check=True
        )
        found = re.search(rb"(\d+) commands served, (\d+) running", shown.stdout)
        assert found, shown.stdout
        return {"served": int(found[1]), "running": int(found[2])}

    def children(self) -> list[int]:
        """The server's child processes (commands running, or not reaped: zombies)."""
        text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return [int(pid) for pid in text.split()]

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert found
        return int(found[1])

    def threads(self) -> list[str]:
        tasks = Path(f"/proc/{self.proc.pid}/task")
        return sorted((task / "comm").read_text().strip() for task in tasks.iterdir())


def client_env(socket_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BOTGUARD_NO_DAEMON"}
    env["BOTGUARD_DAEMON_SOCKET"] = str(socket_dir / "daemon.sock")
    env.update(extra)
    return env


def start_daemon(env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """A server in a session of its own, as a service runs (its process group is orphaned), in a
    directory of its own (a command that ran in the server's would write there)."""
    home = Path(tempfile.mkdtemp(prefix="botguard-daemon-cwd-"))
    proc = subprocess.Popen([*BOTGUARD, "daemon"], env=dict(env), stderr=subprocess.PIPE, cwd=home,
                            start_new_session=True)  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "botguard: resident server PID serving at PATH"
    assert b"serving at" in line, line + proc.stderr.read()
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    socket_dir = tmp_path_factory.mktemp("run")
    socket_dir.chmod(0o700)
    env = client_env(socket_dir)
    proc = start_daemon(env)
    try:
        yield Daemon(proc, env)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "access.log"
    path.write_bytes(b"".join(EXAMPLE.read_bytes().splitlines(keepends=True)[:300]))
    return path


def botguard(args: list[str], env: Mapping[str, str], *, stdin: bytes | None = None, cwd: Path = ROOT,
             served: bool | None = None, **popen: object) -> Ran:  # fmt: skip
    """Run ``botguard ARGS`` as a user does; ``served``: run in its own process (False)."""
    env = dict(env)
    if served is False:
        env["BOTGUARD_NO_DAEMON"] = "1"
    done = subprocess.run(
        [*BOTGUARD, *args], env=env, input=stdin, capture_output=True, cwd=cwd, timeout=300, check=False,
        **popen,  # type: ignore[call-overload]
    )  # fmt: skip
    return Ran(done.returncode, done.stdout, done.stderr)


def both_ways(daemon: Daemon, args: list[str], **kwargs: object) -> tuple[Ran, Ran]:
    """(served by the daemon, in its own process); asserts the first one was served."""
    before = daemon.status()["served"]
    via = botguard(args, daemon.env, **kwargs)  # type: ignore[arg-type]
    assert daemon.status()["served"] == before + 1, "the daemon served the command"
    alone = botguard(args, daemon.env, served=False, **kwargs)  # type: ignore[arg-type]
    return via, alone


def scan_args(log: Path, *extra: str) -> list[str]:
    return ["scan", str(log), "--robots", str(ROBOTS), "--no-dns", "--no-save", *extra]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_a_served_scan_prints_what_it_prints_in_its_own_process(daemon: Daemon, log: Path, fmt: str) -> None:
    via, alone = both_ways(daemon, scan_args(log, "--format", fmt))
    assert alone.code == 0, alone.err
    assert via == alone
    assert len(via.out) > 1000


def test_a_bad_config_is_exit_2_and_one_line_either_way(daemon: Daemon, log: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("policy:\n  no_such_key: 1\n")
    via, alone = both_ways(daemon, scan_args(log, "--config", str(config)))
    assert alone.code == 2 and alone.err.count(b"\n") == 1, alone.err
    assert via == alone


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_a_refreshed_range_list_is_seen_by_the_next_served_scan(daemon: Daemon, tmp_path: Path) -> None:
    """The server keeps the shipped range lists read (keep_bundled_ranges); a list `botguard
    update` refreshed beside the state database is the command's own, read again when it changes."""
    log = tmp_path / "access.log"
    log.write_text(f'192.0.2.9 - - [01/Sep/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "{GOOGLEBOT}"\n')
    updated = tmp_path / "ip-ranges"  # beside --state
    updated.mkdir()
    (updated / "index.yaml").write_text(
        "googlebot: {file: googlebot.txt, format: lines, source: t, via: t, date: '2031-01-01', licence: t}\n"
    )
    identities = []
    for network in ("192.0.2.0/24", "198.51.100.0/24"):
        (updated / "googlebot.txt").write_text(f"{network}\n")
        args = [
            "scan",
            str(log),
            "--no-dns",
            "--no-save",
            "--format",
            "json",
            "--state",
            str(tmp_path / "s.db"),
        ]
        via, alone = both_ways(daemon, args)
        assert via == alone and via.code == 0, (via, alone)
        (client,) = json.loads(via.out)["clients"]
        identities.append(client["identity"])
    assert identities[0] == "verified" and identities[1] != "verified", identities


def test_a_missing_file_is_the_same_error_either_way(daemon: Daemon, tmp_path: Path) -> None:
    via, alone = both_ways(daemon, scan_args(tmp_path / "no-such.log"))
    assert alone.code == 1 and alone.err.startswith(b"botguard: error: "), alone.err
    assert via == alone


def test_stdin_from_a_pipe_is_read_by_the_served_scan(daemon: Daemon, log: Path) -> None:
    via, alone = both_ways(daemon, scan_args(Path("-"), "--format", "json"), stdin=log.read_bytes())
    assert alone.code == 0 and json.loads(alone.out)["summary"]["lines"] == 300
    assert via == alone


def test_relative_paths_and_the_umask_are_the_clients(daemon: Daemon, log: Path, tmp_path: Path) -> None:
    """`-o` and `--state` relative to the client's directory; files made with the client's umask."""
    outcomes = {}
    for mode in ("via", "alone"):
        work = tmp_path / mode
        work.mkdir()
        ran = botguard(["scan", str(log), "--robots", str(ROBOTS), "--no-dns", "--format", "json", "-o", "out.json",
                        "--state", "state.db"], daemon.env, cwd=work, served=None if mode == "via" else False,
                       preexec_fn=lambda: os.umask(0o027))  # fmt: skip
        assert ran.code == 0, ran.err
        outcomes[mode] = {name: (work / name).stat().st_mode & 0o777 for name in ("out.json", "state.db")}
    assert outcomes["via"] == outcomes["alone"]
    assert outcomes["via"]["state.db"] == 0o640


def test_a_reader_that_leaves_early_ends_the_served_scan_quietly(daemon: Daemon, log: Path) -> None:
    big = log.read_bytes() * 40
    outcomes = []
    for served in (None, False):
        env = dict(daemon.env, **({"BOTGUARD_NO_DAEMON": "1"} if served is False else {}))
        proc = subprocess.Popen([*BOTGUARD, *scan_args(Path("-"), "--format", "csv", "--top", "100000")], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)  # fmt: skip
        assert proc.stdin and proc.stdout and proc.stderr
        proc.stdin.write(big)
        proc.stdin.close()
        head = subprocess.run(["head", "-1"], stdin=proc.stdout, capture_output=True, check=True, timeout=120)
        proc.stdout.close()
        outcomes.append((proc.wait(timeout=120), head.stdout, proc.stderr.read()))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 0 and outcomes[0][2] == b""


def blocked_scan(env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """A scan of stdin whose writer never closes it: it runs until it is stopped. A process group
    of its own, as a shell's job (Ctrl-Z does not stop a process in an orphaned group)."""
    proc = subprocess.Popen([*BOTGUARD, *scan_args(Path("-"))], env=dict(env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, process_group=0)  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(EXAMPLE.read_bytes()[:5000])
    proc.stdin.flush()
    return proc


def wait_for(condition: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def reading_stdin(pid: int) -> bool:
    """Whether a thread of process ``pid`` waits in read(0, ...) (x86-64 and arm64 syscall numbers)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            if (task / "syscall").read_text().split()[:2] in (["0", "0x0"], ["63", "0x0"]):
                return True
    return False


def scanning(daemon: Daemon, proc: subprocess.Popen[bytes], served: bool) -> int:
    """The pid of the process that runs ``proc``'s scan, once it waits for more of its stdin."""
    if served:
        wait_for(lambda: len(daemon.children()) == 1, "the daemon runs the scan")
        pid = daemon.children()[0]
    else:
        pid = proc.pid
    wait_for(lambda: reading_stdin(pid), "the scan reads its stdin")
    return pid


def signalled(daemon: Daemon, sig: signal.Signals) -> list[tuple[int, bytes, bytes]]:
    """(exit code, stdout, stderr) of a scan sent ``sig`` while it waits on its stdin: served by
    ``daemon`` first, then in its own process."""
    outcomes = []
    for served in (True, False):
        env = dict(daemon.env, **({} if served else {"BOTGUARD_NO_DAEMON": "1"}))
        proc = blocked_scan(env)
        scanning(daemon, proc, served)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        outcomes.append((proc.returncode, out, err))
    return outcomes


def test_ctrl_c_stops_the_served_command_as_it_stops_one_in_its_own_process(daemon: Daemon) -> None:
    outcomes = signalled(daemon, signal.SIGINT)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 130 and outcomes[0][2].endswith(b"botguard: interrupted\n")
    wait_for(lambda: not daemon.children(), "the command ended and was reaped")


def test_a_killed_client_takes_its_command_with_it(daemon: Daemon) -> None:
    proc = blocked_scan(daemon.env)
    wait_for(lambda: len(daemon.children()) == 1, "the daemon runs the scan")
    proc.kill()
    proc.wait()
    wait_for(lambda: not daemon.children(), "the command stopped and was reaped")
    assert daemon.status()["running"] == 0


def test_sigterm_ends_the_client_as_it_ends_a_command_in_its_own_process(daemon: Daemon) -> None:
    codes = [code for code, _, _ in signalled(daemon, signal.SIGTERM)]
    assert codes == [-signal.SIGTERM, -signal.SIGTERM]


def test_no_server_stale_socket_and_opt_out_run_in_the_clients_process(
    daemon: Daemon, log: Path, tmp_path: Path
) -> None:
    reference = botguard(scan_args(log, "--format", "json"), daemon.env, served=False)
    before = daemon.status()["served"]
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    stale = private / "daemon.sock"
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as dead:
        dead.bind(str(stale))  # bound, never listening, closed: what a killed server leaves
    for env in (
        client_env(tmp_path / "nowhere"),  # no socket
        client_env(private),  # a stale socket
        dict(daemon.env, BOTGUARD_NO_DAEMON="1"),
    ):
        began = time.monotonic()
        assert botguard(scan_args(log, "--format", "json"), env) == reference
        assert time.monotonic() - began < 120
    assert daemon.status()["served"] == before


@pytest.mark.parametrize(
    "variable", ["TZ", "LANG", "PYTHONHASHSEED", "OPENBLAS_NUM_THREADS", "_RJEM_MALLOC_CONF"]
)
def test_another_start_up_environment_runs_in_the_clients_process(
    daemon: Daemon, log: Path, variable: str
) -> None:
    before = daemon.status()["served"]
    env = dict(daemon.env, **{variable: "0" if variable != "LANG" else "C"})
    ran = botguard(scan_args(log, "--format", "json"), env)
    assert ran == botguard(scan_args(log, "--format", "json"), env, served=False)
    assert daemon.status()["served"] == before


# Asks the server with a request whose code fingerprint is another's (an upgrade on disk).
OTHER_CODE = """
import sys
from botguard.resident import _wire, client
_wire.code_fingerprint = lambda: b"another botguard"
sys.exit(97 if client.served(sys.argv[1:]) is None else 0)
"""


def test_a_server_of_other_code_refuses_and_the_client_runs_it_itself(daemon: Daemon, log: Path) -> None:
    before = daemon.status()["served"]
    done = subprocess.run(
        [sys.executable, "-c", OTHER_CODE, *scan_args(log)], env=daemon.env, cwd=ROOT, check=False
    )
    assert done.returncode == 97
    assert daemon.status()["served"] == before


def test_status_names_what_keeps_a_process_from_being_served(daemon: Daemon) -> None:
    shown = subprocess.run([*BOTGUARD, "daemon", "--status"], env=dict(daemon.env, TZ="Asia/Tokyo"),
                           capture_output=True, check=True)  # fmt: skip
    assert b"serves this shell's commands: no: the variables read at start-up differ (TZ)" in shown.stdout


@pytest.fixture(scope="module")
def reachable_daemon() -> Iterator[Daemon]:
    """A server whose socket directory another user could reach (under /tmp, made 0755 below)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user (setpriv)")
    socket_dir = Path(tempfile.mkdtemp(prefix="botguard-test-run-", dir="/tmp"))
    env = client_env(socket_dir)
    proc = start_daemon(env)
    try:
        yield Daemon(proc, env)
    finally:
        stop(proc)
        shutil.rmtree(socket_dir, ignore_errors=True)


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_another_user_is_refused_by_the_server(reachable_daemon: Daemon) -> None:
    """Even where it could reach the socket, another uid gets no answer (SO_PEERCRED)."""
    path = Path(reachable_daemon.env["BOTGUARD_DAEMON_SOCKET"])
    probe = (
        "import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\ns.connect(sys.argv[1])\n"
        "try:\n    s.send(b'status')\n    print(repr(s.recv(100000)))\nexcept OSError as e:\n    print(repr(b''))\n"
    )  # connected (the socket is reachable), then closed unanswered, its message sent or not
    try:
        path.parent.chmod(0o755)
        path.chmod(0o666)
        done = subprocess.run([*AS_NOBODY, sys.executable, "-c", probe, str(path)], capture_output=True, check=False,
                              timeout=60)  # fmt: skip
    finally:
        path.parent.chmod(0o700)
        path.chmod(0o600)
    assert done.stdout.strip() == b"b''", done.stdout + done.stderr


def test_another_users_socket_directory_is_not_used(reachable_daemon: Daemon, log: Path) -> None:
    """A client of another user finds the directory is not its own and scans in its own process."""
    path = Path(reachable_daemon.env["BOTGUARD_DAEMON_SOCKET"])
    before = reachable_daemon.status()["served"]
    try:
        path.parent.chmod(0o755)  # enterable, yet root's: refused before connecting
        path.chmod(0o666)
        done = subprocess.run([*AS_NOBODY, *BOTGUARD, "scan", "-", "--no-dns", "--no-save", "--no-identity", "--format",
                               "json"], input=log.read_bytes(),
                              env=dict(reachable_daemon.env, HOME="/tmp", XDG_CACHE_HOME="/tmp/botguard-test-nobody"),
                              capture_output=True, check=False, timeout=300, cwd="/tmp")  # fmt: skip
    finally:
        path.parent.chmod(0o700)
        path.chmod(0o600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["lines"] == 300
    assert reachable_daemon.status()["served"] == before


def test_many_sequential_and_concurrent_commands_no_deadlock_flat_memory(daemon: Daemon, log: Path) -> None:
    args = scan_args(log, "--format", "json", "--no-model")
    reference = botguard(args, daemon.env, served=False)
    for _ in range(5):  # first commands may grow the server a little (its loop's first allocations)
        assert botguard(args, daemon.env) == reference
    rss_before = daemon.rss_kib()
    start = daemon.status()["served"]
    for _ in range(50):
        assert botguard(args, daemon.env) == reference
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: botguard(args, daemon.env), range(8)))
    assert all(outcome == reference for outcome in outcomes)
    assert daemon.status()["served"] == start + 58
    assert daemon.rss_kib() - rss_before < 2048, (rss_before, daemon.rss_kib())
    assert not daemon.children(), "every command reaped"
    pools = [name for name in daemon.threads() if re.match(r"polars-\d|tokio|async-executor", name)]
    assert not pools, f"the server started polars' thread pool: {daemon.threads()}"


def test_a_short_command_ends_while_a_long_one_still_runs(daemon: Daemon, log: Path) -> None:
    """A child holds no other client's streams: a pipe's reader sees its end when its command ends."""
    long = blocked_scan(daemon.env)
    try:
        wait_for(lambda: daemon.status()["running"] == 1, "the long scan runs")
        quick = botguard(scan_args(log, "--format", "json", "--no-model"), daemon.env)
        assert quick.code == 0
        assert long.poll() is None
    finally:
        long.kill()
        long.wait()


def test_a_server_killed_mid_command_is_one_error_line_and_no_second_run(tmp_path: Path) -> None:
    socket_dir = tmp_path / "run"
    socket_dir.mkdir(mode=0o700)
    env = client_env(socket_dir)
    server = start_daemon(env)
    try:
        proc = blocked_scan(env)
        wait_for(lambda: Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split(),
                 "the daemon runs the scan")  # fmt: skip
        child = int(Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()[0])
        server.kill()
        out, err = proc.communicate(timeout=60)
    finally:
        stop(server)
    assert proc.returncode == 1
    assert out == b""
    assert err.startswith(b"botguard: error: the resident server stopped before the command ended")
    assert err.count(b"\n") == 1
    wait_for(lambda: not Path(f"/proc/{child}").exists() or b"Z" in Path(f"/proc/{child}/stat").read_bytes().split()[2:3],
             "the command died with its server")  # fmt: skip


def test_stop_waits_for_running_commands_then_the_socket_is_gone(tmp_path: Path, log: Path) -> None:
    socket_dir = tmp_path / "run"
    socket_dir.mkdir(mode=0o700)
    env = client_env(socket_dir)
    server = start_daemon(env)
    try:
        stopped = subprocess.run(
            [*BOTGUARD, "daemon", "--stop"], env=env, capture_output=True, timeout=60, check=False
        )
        assert stopped.returncode == 0, stopped.stderr
        assert server.wait(timeout=60) == 0
        assert not (socket_dir / "daemon.sock").exists()
        status = subprocess.run([*BOTGUARD, "daemon", "--status"], env=env, capture_output=True, check=False)
        assert status.returncode == 1
        assert (
            status.stderr
            == f"botguard: error: no resident server answers at {socket_dir / 'daemon.sock'}\n".encode()
        )
    finally:
        stop(server)


def test_a_second_server_on_the_same_socket_is_refused(daemon: Daemon) -> None:
    second = subprocess.run(
        [*BOTGUARD, "daemon"], env=daemon.env, capture_output=True, timeout=60, check=False
    )
    assert second.returncode == 1
    assert second.stderr.startswith(b"botguard: error: a resident server already runs at ")
    assert daemon.proc.poll() is None


def test_the_socket_is_private(daemon: Daemon) -> None:
    path = Path(daemon.env["BOTGUARD_DAEMON_SOCKET"])
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


# The client's own imports, up to a served command's end: none of what it exists to avoid.
CLIENT_IMPORTS = """
import sys
from botguard.resident.client import served
code = served(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"click", "polars", "numpy", "rich", "yaml", "json", "typing"})
print(code, heavy, file=sys.stderr)
"""


def test_the_client_imports_nothing_heavy(daemon: Daemon, log: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CLIENT_IMPORTS, *scan_args(log, "--format", "json")], env=daemon.env,
                          capture_output=True, cwd=ROOT, check=True)  # fmt: skip
    assert done.stderr.splitlines()[-1] == b"0 []"
    assert json.loads(done.stdout)["summary"]["lines"] == 300


def shell(script: str, env: Mapping[str, str], wrapper: list[str]) -> subprocess.CompletedProcess[bytes]:
    """``script`` run by sh under ``wrapper`` (a program that changes the process's context)."""
    return subprocess.run(
        [*wrapper, "sh", "-c", script], env=dict(env), capture_output=True, timeout=300, check=False
    )


def scan_line(log: Path) -> str:
    return f"{' '.join(BOTGUARD)} scan {log} --no-save --no-dns --no-identity"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("capsh") is None, reason="needs root and capsh")
def test_a_client_with_fewer_capabilities_is_not_served_with_the_servers(
    daemon: Daemon, log: Path, tmp_path: Path
) -> None:
    """Same uid, fewer privileges (capabilities, and alike seccomp, no_new_privs): its own process."""
    hidden = tmp_path / "someone-elses"
    hidden.mkdir()
    secret = hidden / "access.log"
    shutil.copy(log, secret)
    for path, mode in ((secret, 0o600), (hidden, 0o700)):
        os.chown(path, 65534, 65534)
        path.chmod(mode)

    def dropped(env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
        """The scan in a shell (capsh runs bash) without the capabilities that read others' files."""
        drop = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", scan_line(secret)]
        return subprocess.run(drop, env=dict(env), capture_output=True, timeout=300, check=False)

    before = daemon.status()["served"]
    alone = dropped({**daemon.env, "BOTGUARD_NO_DAEMON": "1"})
    assert alone.returncode == 1, alone  # the guard is real: this process cannot read it
    served = dropped(daemon.env)
    assert (served.returncode, served.stdout, served.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    assert daemon.status()["served"] == before


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_a_client_in_another_mount_namespace_scans_its_own_files(
    daemon: Daemon, log: Path, tmp_path: Path
) -> None:
    seen = tmp_path / "access.log"
    other = tmp_path / "other.log"
    shutil.copy(log, seen)
    other.write_bytes(b"".join(EXAMPLE.read_bytes().splitlines(keepends=True)[:7]))
    script = f"mount --bind {other} {seen} && {scan_line(seen)}"
    unshare = ["unshare", "-m", "--propagation", "private"]
    before = daemon.status()["served"]
    alone = shell(script, {**daemon.env, "BOTGUARD_NO_DAEMON": "1"}, unshare)
    assert alone.stdout.startswith(b"7 lines"), alone  # the bind mount is what this process sees
    served = shell(script, daemon.env, unshare)
    assert (served.returncode, served.stdout) == (alone.returncode, alone.stdout)
    assert daemon.status()["served"] == before


def test_the_served_command_runs_in_the_clients_directory_even_renamed(
    daemon: Daemon, log: Path, tmp_path: Path
) -> None:
    """The directory travels as a descriptor: a path renamed since names nothing, the directory stays."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "access.log").write_bytes(log.read_bytes())
    script = (f"cd {work} && mv {work} {tmp_path / 'moved'} && "
              f"{' '.join(BOTGUARD)} scan access.log --no-save --no-dns --no-identity --format json -o out.json")  # fmt: skip
    done = shell(script, daemon.env, [])
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "moved" / "out.json").read_bytes())["summary"]["lines"] == 300


def state_of(pid: int) -> str:
    """A process's state letter (``T``: stopped), from /proc/PID/stat."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_ctrl_z_stops_the_served_command_too_and_fg_resumes_it(daemon: Daemon) -> None:
    proc = blocked_scan(daemon.env)
    try:
        command = scanning(daemon, proc, served=True)
        proc.send_signal(signal.SIGTSTP)
        wait_for(lambda: (state_of(proc.pid), state_of(command)) == ("T", "T"), "both stopped")
        proc.send_signal(signal.SIGCONT)
        wait_for(lambda: "T" not in (state_of(proc.pid), state_of(command)), "both running again")
        out, err = proc.communicate(timeout=120)  # closes its stdin: the scan reads to the end
        assert proc.returncode == 0, err
        assert out.startswith(b"20 lines")  # all it was given, after the pause
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_clients_resource_limits_bind_the_served_command(
    daemon: Daemon, log: Path, tmp_path: Path
) -> None:
    """`ulimit -f` (a file-size limit) cuts the report as it cuts it in the client's own process."""
    outcomes = []
    for served in (True, False):
        work = tmp_path / ("via" if served else "alone")
        work.mkdir()
        env = dict(daemon.env, **({} if served else {"BOTGUARD_NO_DAEMON": "1"}))
        script = f"cd {work} && ulimit -f 8 && {' '.join(BOTGUARD)} scan {log} --no-save --no-dns --format json -o out.json"
        done = shell(script, env, [])
        outcomes.append((done.returncode, done.stdout, done.stderr.replace(str(work).encode(), b"DIR")))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] != 0, outcomes[0]  # the report (~40 KiB) is over the limit (4-8 KiB)
