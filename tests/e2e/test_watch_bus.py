"""`botguard ship` -> a real redis-server stream -> `botguard watch --from` workers in one group.

The key property: every line is counted once in the group's totals, also when a worker is
killed with SIGKILL in the middle of a chunk and another claims what it held, and when two
workers race for the same lines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from botguard.logs._malformed import MAX_LINE_BYTES
from botguard.logs.bus import PASSWORD_ENV, BusChunk, RedisSource, bus_address
from botguard.logs.chunks import ChunkParser
from tests.e2e.redis_server import RedisServer, running_redis
from tests.e2e.traffic import write
from tests.helpers import run_cli

BOTGUARD = [sys.executable, "-m", "botguard"]
GARBAGE_EVERY = 97  # one malformed line in 97


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as srv:
        yield srv


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, int]:
    """The e2e log (people, Googlebot, scrapers, the novel NovaScrape family) with garbage lines
    mixed in: (log, robots.txt, lines, malformed lines)."""
    log, robots, _ = write(tmp_path_factory.mktemp("traffic"))
    lines = log.read_text().splitlines(keepends=True)
    mixed = []
    for number, line in enumerate(lines, start=1):
        mixed.append(line)
        if number % GARBAGE_EVERY == 0:
            mixed.append("garbage \x1b[2J not a log line\n")
    log.write_text("".join(mixed))
    return log, robots, len(mixed), len(mixed) - len(lines)


def _ship(server: RedisServer, log: Path, tmp_path: Path, stream: str = "access") -> None:
    r = run_cli("ship", str(log), "--to", server.url(stream), "--state", str(tmp_path / "ship.db"), "--once")
    assert r.exit_code == 0, r.output


def _worker(
    server: RedisServer, tmp_path: Path, name: str, robots: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BOTGUARD, "watch", "--from", server.url("access"), "--consumer", name, "--robots", str(robots),
         "--state", str(tmp_path / f"{name}.db"), "--interval", "0.05", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _assert_all_counted_once(server: RedisServer, lines: int, malformed: int) -> None:
    assert server.totals("access") == {"lines": lines, "parsed": lines - malformed, "malformed": malformed}
    assert server.pending("access") == 0
    assert server.client.xlen("access") == 0  # acknowledged entries are deleted


def test_ship_then_one_worker_counts_every_line_and_proposes(
    server: RedisServer, tmp_path: Path, traffic: tuple[Path, Path, int, int]
) -> None:
    """One worker reads the whole stream: the counts are exact, and the model proposes the novel
    family as it does from files; a second ship of the same file sends nothing (its offsets)."""
    log, robots, lines, malformed = traffic
    _ship(server, log, tmp_path)
    assert server.client.xlen("access") == lines
    _ship(server, log, tmp_path)
    assert server.client.xlen("access") == lines
    r = run_cli("watch", "--from", server.url("access"), "--robots", str(robots), "--state",
                str(tmp_path / "w.db"), "--once")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "candidate ua_tok=novascrape:" in r.stdout, r.output
    assert f"{lines} lines in total" in r.stderr, r.output
    _assert_all_counted_once(server, lines, malformed)


def test_worker_killed_mid_chunk_its_lines_are_claimed_and_counted_once(
    server: RedisServer, tmp_path: Path, traffic: tuple[Path, Path, int, int]
) -> None:
    """kill -9 a worker while it holds a chunk it has not acknowledged; another worker claims
    those lines once they are idle and the group's totals hold every line exactly once."""
    log, robots, lines, malformed = traffic
    _ship(server, log, tmp_path)
    first = _worker(server, tmp_path, "first", robots, "--claim-idle", "1")
    try:
        deadline = time.monotonic() + 120
        while not (server.totals("access").get("lines", 0) > 0 and server.pending("access") > 0):
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.002)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
        first.communicate()
    held = server.pending("access")
    done = server.totals("access")["lines"]
    assert held > 0 and done < lines  # killed mid-chunk, mid-stream
    r = run_cli("watch", "--from", server.url("access"), "--consumer", "second", "--robots", str(robots),
                "--state", str(tmp_path / "second.db"), "--once", "--claim-idle", "1")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "claimed" in r.stderr, r.output
    _assert_all_counted_once(server, lines, malformed)


def test_two_racing_workers_count_each_line_once(
    server: RedisServer, tmp_path: Path, traffic: tuple[Path, Path, int, int]
) -> None:
    """Two workers that steal each other's lines after 10 ms (both process some chunks in full):
    an entry acknowledged by one counts nothing for the other."""
    log, robots, lines, malformed = traffic
    _ship(server, log, tmp_path)
    workers = [
        _worker(server, tmp_path, name, robots, "--once", "--claim-idle", "0.01") for name in ("a", "b")
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    processed = sum(_ticked(err) for _, err in outputs)
    assert processed >= lines  # each line processed at least once (some twice: the race happened or not)
    _assert_all_counted_once(server, lines, malformed)


def _ticked(stderr: str) -> int:
    """Lines a worker processed, from its status lines ("watch: N lines (...)")."""
    return sum(
        int(line.split()[1])
        for line in stderr.splitlines()
        if line.startswith("watch: ") and " lines (" in line
    )


def test_an_entry_with_a_newline_stays_one_line(server: RedisServer) -> None:
    """A producer's entry holding a newline is one (malformed) line, not two: ids and lines agree."""
    address = bus_address(server.url("raw"))
    server.client.xadd("raw", {b"l": b"garbage\nmore garbage"})
    server.client.xadd("raw", {b"other": b"no line field"})
    with RedisSource(address, "botguard", "w1") as source:
        chunk = next(source.poll())
        assert isinstance(chunk, BusChunk) and chunk.lines == 2 and chunk.data.count(b"\n") == 2
        assert source.commit(chunk, ChunkParser("combined").parse(chunk)) == 2
        assert source.totals()[address.url].malformed == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--from", "amqp://broker:5672/access"), 2, "unsupported bus 'amqp://broker:5672/access'"),
        (("--from", "redis://127.0.0.1:1/bad name"), 2, "bad stream name 'bad name'"),
        (("--from", "redis://127.0.0.1:1/access"), 1, "cannot use the bus redis://127.0.0.1:1/access"),
        ((), 2, "watch needs log files to follow or --from"),
        (("access.log", "--from", "redis://127.0.0.1:1/access"), 2, "not both"),
        (("--from", "redis://127.0.0.1:1/access", "--consumer", "a b"), 2, "bad worker name 'a b'"),
        (("--from", "redis://127.0.0.1:1/access", "--group", "g\x1b"), 2, "bad group name 'g\\x1b'"),
        (("--from", "redis://:s3cret@127.0.0.1:1/access"), 2, "set BOTGUARD_BUS_PASSWORD instead"),
        (("--from", "kafka://botguard@127.0.0.1:1/access"), 2, "does not authenticate to Kafka"),
    ],
)
def test_bad_bus_usage_is_one_line(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    r = run_cli("watch", *args, "--state", str(tmp_path / "s.db"), "--once")
    assert r.exit_code == code and message in r.stderr, r.output
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1, r.output


def test_ship_to_an_unreachable_bus_is_one_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("x\n")
    r = run_cli("ship", str(log), "--to", "redis://127.0.0.1:1/access", "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 1 and "cannot use the bus redis://127.0.0.1:1/access" in r.stderr, r.output


def test_a_bus_with_a_password_takes_lines_only_from_who_gives_it(
    tmp_path: Path, traffic: tuple[Path, Path, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis with a password (anyone who can write the stream writes the lines the workers learn
    from): without it ship and watch stop in one line and put nothing on the stream; with
    BOTGUARD_BUS_PASSWORD (never the URL) every line goes through and is counted once."""
    log, robots, lines, malformed = traffic
    with running_redis(tmp_path, password="s3cret pass") as server:
        r = run_cli(
            "ship", str(log), "--to", server.url("access"), "--state", str(tmp_path / "x.db"), "--once"
        )
        assert r.exit_code == 1 and "BOTGUARD_BUS_PASSWORD is not set" in r.stderr, r.output
        watch = ("watch", "--from", server.url("access"), "--robots", str(robots), "--state",
                 str(tmp_path / "w.db"), "--once")  # fmt: skip
        r = run_cli(*watch)
        assert r.exit_code == 1 and "BOTGUARD_BUS_PASSWORD is not set" in r.stderr, r.output
        assert len(r.stderr.splitlines()) == 1, r.output
        assert server.client.exists("access") == 0
        monkeypatch.setenv(PASSWORD_ENV, "s3cret pass")
        _ship(server, log, tmp_path)
        r = run_cli(*watch)
        assert r.exit_code == 0, r.output
        _assert_all_counted_once(server, lines, malformed)


def test_workers_share_the_model_through_the_delta_directory(
    server: RedisServer, tmp_path: Path, traffic: tuple[Path, Path, int, int]
) -> None:
    """Worker a learns from every line and publishes its deltas; worker b, which saw no line,
    ends with a's weights in its scorer (from a's files), and so does a worker started later."""
    from botguard.config import load_settings
    from botguard.model.stream import StreamLearner

    log, robots, _, _ = traffic
    _ship(server, log, tmp_path)
    deltas = tmp_path / "deltas"

    def watch(name: str) -> StreamLearner:
        snapshots = tmp_path / f"{name}.model"
        r = run_cli("watch", "--from", server.url("access"), "--consumer", name, "--deltas", str(deltas),
                    "--robots", str(robots), "--state", str(tmp_path / f"{name}.db"), "--snapshot-dir",
                    str(snapshots), "--once")  # fmt: skip
        assert r.exit_code == 0, r.output
        return StreamLearner.restore(snapshots, load_settings())

    a = watch("a")
    learned = {key: a.scorer.weight(key) for key in a.scorer.table.index if a.scorer.weight(key) != 0.0}
    assert len(learned) > 50 and a.scorer.weight("ua_tok=novascrape") > 0
    for name in ("b", "c"):
        peer = watch(name)
        assert {key: peer.scorer.weight(key) for key in learned} == learned, name


def test_an_unusable_delta_directory_is_one_line(tmp_path: Path) -> None:
    log, blocker = tmp_path / "access.log", tmp_path / "not-a-dir"
    log.write_text("")
    blocker.write_text("a file where the directory should be")
    r = run_cli(
        "watch", str(log), "--deltas", str(blocker / "deltas"), "--state", str(tmp_path / "s.db"), "--once"
    )
    assert r.exit_code == 1 and "cannot use the delta directory" in r.stderr and str(blocker) in r.stderr, (
        r.output
    )
    assert "Traceback" not in r.output


def test_from_end_starts_a_new_group_after_the_lines_already_there(
    server: RedisServer, tmp_path: Path
) -> None:
    """--from-end: a group created now skips what the stream holds; an existing group keeps its place."""
    for line in (b"old 1", b"old 2"):
        server.client.xadd("access", {b"l": line})
    args = (
        "watch",
        "--from",
        server.url("access"),
        "--state",
        str(tmp_path / "s.db"),
        "--once",
        "--from-end",
    )
    r = run_cli(*args, "--group", "late")
    assert r.exit_code == 0 and "0 lines in total" in r.stderr, r.output
    server.client.xadd("access", {b"l": b"new"})
    r = run_cli(*args, "--group", "late")
    assert r.exit_code == 0 and "1 lines in total" in r.stderr, r.output


def test_ship_sends_one_entry_per_line_even_with_a_carriage_return_inside(
    server: RedisServer, tmp_path: Path
) -> None:
    """A line is what ends with "\\n", as scan and watch read it: a lone CR inside a line (a log
    written with escape=none) does not split it (the entries would disagree with the lines, and
    Kafka keys would shift to other clients' lines); a CRLF ending is still stripped."""
    log = tmp_path / "access.log"
    lines = [
        b'198.51.100.1 - - [04/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "a\rb"',
        b'198.51.100.2 - - [04/Mar/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "crlf"\r',
        b'198.51.100.3 - - [04/Mar/2024:10:00:02 +0000] "GET / HTTP/1.1" 200 5 "-" "plain"',
    ]
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    _ship(server, log, tmp_path)
    entries = [fields[b"l"] for _, fields in server.client.xrange("access")]
    assert entries == [lines[0], lines[1].removesuffix(b"\r"), lines[2]]


def test_an_oversize_entry_is_cut_as_a_file_line_is(server: RedisServer) -> None:
    """A producer's multi-megabyte entry is handed on cut to the longest line a log may hold
    (counted ``too_long``, as the file follower does), so a worker's chunk stays bounded."""
    address = bus_address(server.url("big"))
    server.client.xadd("big", {b"l": b"x" * (4 << 20)})
    with RedisSource(address, "botguard", "w1") as source:
        chunk = next(source.poll())
        assert chunk.lines == 1 and len(chunk.data) == MAX_LINE_BYTES + 2
        batch = ChunkParser("combined").parse(chunk)
        assert batch.stats.malformed_by_reason == {"too_long": 1}
