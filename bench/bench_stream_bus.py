#!/usr/bin/env python3
"""Lines through a Redis stream with 1 and 2 workers, lag under load, exactly-once across a
kill -9, and deploy-rules fanned out to 1 vs 3 hosts (issue 17).

    python bench/bench_stream_bus.py [--lines 100000] [--seed 11] [--rate 3000] [--json OUT]

Everything runs for real on this machine: a generated day (bench/gen_day.py, a dev seed), a
redis-server on a free port, `botguard ship` and `botguard watch --from` as subprocesses, nginx
instances (and an sshd, when installed) for the fan-out. What it prints:

- ship: lines/s into the stream (`ship --once`);
- baseline: lines/s of one `watch --once` on the log file itself (no bus);
- workers: lines/s through `watch --from --once` with 1 worker and with 2 workers in one group
  (wall time from start to the stream being empty; each worker parses and runs the model);
- lag under load: a writer appends the day to a live log at ``--rate`` lines/s, `ship` tails it,
  2 workers consume live; every 0.25 s the age of the oldest unacknowledged entry (seconds since
  ship added it) and the backlog: median, 95th percentile and maximum;
- exactly-once: 2 live workers, one killed with SIGKILL while it holds a chunk; the other claims
  its lines; the group's totals against the lines shipped;
- Kafka: lines/s through Tansu (the tests' Kafka-protocol broker, 2 partitions) with 1 and 2
  workers (at least once: "processed" may exceed the lines after a rebalance);
- fan-out: deploy-rules wall time (median of 5 changing runs) to 1 and 3 local nginx hosts, and
  to 3 hosts over ssh (botguard on the host receives the decisions and renders the files), when
  sshd is installed.

The machine is shared (2 cores): read throughput as an order of magnitude, not a fine figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from botguard.decide import DecisionSet  # noqa: E402
from botguard.render.nginx import NginxRenderer  # noqa: E402
from tests.deploy.conftest import scan_doc  # noqa: E402
from tests.deploy.sshd import SSHD, running_sshd  # noqa: E402
from tests.e2e.redis_server import RedisServer, running_redis  # noqa: E402
from tests.render.servers import running  # noqa: E402

BOTGUARD = [sys.executable, "-m", "botguard"]


def generate(work: Path, lines: int, seed: int) -> tuple[Path, Path]:
    log = work / "day.log"
    subprocess.run([sys.executable, str(BENCH / "gen_day.py"), "--lines", str(lines), "--seed", str(seed),
                    "--out", str(log)], check=True, capture_output=True)  # fmt: skip
    return log, Path(f"{log}.robots.txt")


def ship_once(srv: RedisServer, log: Path, stream: str, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*BOTGUARD, "ship", str(log), "--to", srv.url(stream), "--state", str(work / f"ship-{stream}.db"),
                    "--once"], check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def worker(
    srv: RedisServer, stream: str, name: str, robots: Path, work: Path, *extra: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*BOTGUARD, "watch", "--from", srv.url(stream), "--consumer", name, "--robots", str(robots),
         "--state", str(work / f"{stream}-{name}.db"), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def through_workers(
    srv: RedisServer, log: Path, robots: Path, work: Path, n: int, lines: int
) -> dict[str, float]:
    stream = f"w{n}"
    ship_s = ship_once(srv, log, stream, work)
    started = time.perf_counter()
    procs = [worker(srv, stream, f"w{i}", robots, work, "--once") for i in range(n)]
    for proc in procs:
        proc.wait()
    wall = time.perf_counter() - started
    counted = srv.totals(stream).get("lines", 0)
    return {"workers": n, "lines": counted, "seconds": round(wall, 2), "lines_per_s": round(counted / wall),
            "ship_lines_per_s": round(lines / ship_s), "exact": counted == lines}  # fmt: skip


def through_kafka(log: Path, robots: Path, work: Path, lines: int) -> dict[str, object]:
    """Lines/s through Tansu (the tests' Kafka-protocol broker) with 1 and 2 workers, 2 partitions."""
    from tests.e2e.kafka_broker import running_broker

    out: dict[str, object] = {}
    with running_broker() as broker:
        for n in (1, 2):
            topic = f"k{n}"
            broker.create(topic, 2)
            started = time.perf_counter()
            subprocess.run([*BOTGUARD, "ship", str(log), "--to", broker.url(topic), "--state",
                            str(work / f"ship-{topic}.db"), "--once"], check=True, capture_output=True)  # fmt: skip
            ship_s = time.perf_counter() - started
            started = time.perf_counter()
            procs = [_kafka_worker(broker.url(topic), f"{topic}w{i}", robots, work) for i in range(n)]
            counted = sum(
                int(m[-1]) for p in procs if (m := re.findall(r"(\d+) lines in total", p.communicate()[1]))
            )
            wall = time.perf_counter() - started
            out[f"workers_{n}"] = {"seconds": round(wall, 2), "lines_per_s": round(lines / wall),
                                   "processed": counted, "ship_lines_per_s": round(lines / ship_s)}  # fmt: skip
    return out


def _kafka_worker(url: str, name: str, robots: Path, work: Path) -> subprocess.Popen[str]:
    argv = [*BOTGUARD, "watch", "--from", url, "--consumer", name, "--robots", str(robots), "--state",
            str(work / f"{name}.db"), "--once"]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def from_file(log: Path, robots: Path, work: Path, lines: int) -> dict[str, float]:
    """The baseline: one `watch --once` on the log file itself (no bus)."""
    started = time.perf_counter()
    subprocess.run([*BOTGUARD, "watch", str(log), "--robots", str(robots), "--state", str(work / "file.db"),
                    "--once"], check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - started
    return {"lines": lines, "seconds": round(wall, 2), "lines_per_s": round(lines / wall)}


def _oldest_age(srv: RedisServer, stream: str) -> float:
    first = srv.client.xrange(stream, count=1)
    if not first:
        return 0.0
    ms = int(first[0][0].split(b"-")[0])
    return max(0.0, time.time() - ms / 1000)


def lag_under_load(srv: RedisServer, log: Path, robots: Path, work: Path, rate: int, seconds: float) -> dict:
    """A writer appends at ``rate`` lines/s; ship tails; 2 workers consume; sample the lag."""
    stream, live = "lag", work / "live.log"
    live.write_bytes(b"")
    source = log.read_bytes().splitlines(keepends=True)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        with open(live, "ab") as out:
            started, i = time.monotonic(), 0
            while not stop.is_set() and i < len(source):
                due = int((time.monotonic() - started) * rate)
                if due > i:
                    out.write(b"".join(source[i:due]))
                    out.flush()
                    i = due
                time.sleep(0.01)
            written[0] = i

    shipper = subprocess.Popen([*BOTGUARD, "ship", str(live), "--to", srv.url(stream), "--state",
                                str(work / "ship-lag.db"), "--interval", "0.2"], stderr=subprocess.DEVNULL)  # fmt: skip
    workers = [worker(srv, stream, f"l{i}", robots, work, "--interval", "0.2") for i in range(2)]
    writer = threading.Thread(target=write)
    time.sleep(1.5)  # the workers load the catalogue and the model
    writer.start()
    ages, backlog, started = [], [], time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(0.25)
        ages.append(_oldest_age(srv, stream))
        backlog.append(srv.client.xlen(stream))
    stop.set()
    writer.join()
    deadline = time.monotonic() + 120
    while srv.totals(stream).get("lines", 0) < written[0] and time.monotonic() < deadline:
        time.sleep(0.2)
    for proc in [shipper, *workers]:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    ages.sort()
    return {"rate": rate, "seconds": seconds, "written": written[0], "counted": srv.totals(stream).get("lines", 0),
            "lag_p50_s": round(statistics.median(ages), 2), "lag_p95_s": round(ages[int(0.95 * (len(ages) - 1))], 2),
            "lag_max_s": round(ages[-1], 2), "backlog_max_lines": max(backlog)}  # fmt: skip


def exactly_once(srv: RedisServer, log: Path, robots: Path, work: Path, lines: int) -> dict:
    stream = "kill"
    ship_once(srv, log, stream, work)
    victim = worker(srv, stream, "victim", robots, work, "--claim-idle", "2", "--interval", "0.05")
    other = worker(srv, stream, "other", robots, work, "--claim-idle", "2", "--interval", "0.05")
    while not (srv.totals(stream).get("lines", 0) > lines // 3 and srv.pending(stream) > 0):
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    members = srv.client.xpending(stream, "botguard")["consumers"]
    held = sum(int(m["pending"]) for m in members if m["name"] in (b"victim", "victim"))
    deadline = time.monotonic() + 300
    while (srv.totals(stream).get("lines", 0) < lines or srv.pending(stream)) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # anything counted twice would show now
    other.send_signal(signal.SIGTERM)
    other.wait(timeout=60)
    totals = srv.totals(stream)
    return {"lines": lines, "held_by_killed_worker": held, "counted": totals.get("lines", 0),
            "parsed": totals.get("parsed", 0), "malformed": totals.get("malformed", 0),
            "exact": totals.get("lines", 0) == lines and srv.pending(stream) == 0}  # fmt: skip


def fan_out(work: Path, runs: int = 5) -> dict:
    """deploy-rules wall time to 1 and 3 local nginx hosts (and 3 over ssh, with sshd)."""
    empty = {f.name: f.text for f in NginxRenderer().render(DecisionSet())}
    scans = []
    for i, block in enumerate((True, False)):
        scans.append(work / f"scan{i}.json")
        scans[-1].write_text(json.dumps(scan_doc(with_ip_block=block)))
    out: dict[str, float] = {}
    with ExitStack() as stack:
        servers = [stack.enter_context(running("nginx", empty)) for _ in range(3)]
        sshd = (
            stack.enter_context(running_sshd(Path(tempfile.mkdtemp(dir=work))))
            if Path(SSHD).exists()
            else None
        )
        layouts = {"1 host": servers[:1], "3 hosts": servers}
        for label, chosen in layouts.items():
            out[label] = _time_deploys(work, label, chosen, scans, runs, None)
        if sshd is not None:
            out["3 hosts over ssh"] = _time_deploys(work, "ssh", servers, scans, runs, sshd)
    return out


def _time_deploys(work: Path, label: str, servers: list, scans: list[Path], runs: int, sshd: object) -> float:
    hosts = []
    for i, srv in enumerate(servers):
        host = {"name": f"web{i}", "server": "nginx", "dir": str(srv.rules), "validate": srv.validate,
                "reload": srv.reload}  # fmt: skip
        if sshd is not None:
            host |= {"dir": sshd.url(srv.rules), "ssh": sshd.ssh, "botguard": BOTGUARD}  # type: ignore[attr-defined]
        hosts.append(host)
    config = work / f"fan-{label.replace(' ', '-')}.yaml"
    config.write_text(yaml.safe_dump({"deploy": {"lock": str(work / "deploy.lock"), "hosts": hosts}}))
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        subprocess.run([*BOTGUARD, "deploy-rules", "--from", str(scans[run % 2]), "--config", str(config),
                        "--state", str(work / f"{label}.db")], check=True, capture_output=True)  # fmt: skip
        if run:  # the first run also creates the state database
            times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11, help="a dev seed of gen_day.py (default 11)")
    parser.add_argument("--rate", type=int, default=3000, help="lines/s the live log grows by (lag test)")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bus-"))
    try:
        log, robots = generate(work, args.lines, args.seed)
        lines = sum(1 for _ in log.open("rb"))
        result: dict[str, object] = {"lines": lines, "seed": args.seed, "cpus": os.cpu_count()}
        result["file"] = base = from_file(log, robots, work, lines)
        print(
            f"file, no bus: {base['lines_per_s']} lines/s ({lines} lines in {base['seconds']} s)", flush=True
        )
        with running_redis(work) as srv:
            for n in (1, 2):
                result[f"workers_{n}"] = row = through_workers(srv, log, robots, work, n, lines)
                print(f"{n} worker(s): {row['lines_per_s']} lines/s ({row['lines']} lines in {row['seconds']} s, "
                      f"exact: {row['exact']}); ship {row['ship_lines_per_s']} lines/s", flush=True)  # fmt: skip
            result["lag"] = lag = lag_under_load(srv, log, robots, work, args.rate, args.lag_seconds)
            print(f"lag at {lag['rate']} lines/s for {lag['seconds']:g} s: p50 {lag['lag_p50_s']} s, p95 "
                  f"{lag['lag_p95_s']} s, max {lag['lag_max_s']} s; backlog max {lag['backlog_max_lines']} lines; "
                  f"{lag['counted']}/{lag['written']} counted", flush=True)  # fmt: skip
            result["exactly_once"] = once = exactly_once(srv, log, robots, work, lines)
            print(f"kill -9 mid-chunk: {once['held_by_killed_worker']} lines held by the killed worker; "
                  f"{once['counted']}/{once['lines']} counted, exact: {once['exact']}", flush=True)  # fmt: skip
        result["kafka"] = kafka = through_kafka(log, robots, work, lines)
        for n in (1, 2):
            row = kafka[f"workers_{n}"]
            print(f"kafka, {n} worker(s): {row['lines_per_s']} lines/s ({row['processed']} lines processed in "  # type: ignore[index]
                  f"{row['seconds']} s; at least once); ship {row['ship_lines_per_s']} lines/s", flush=True)  # type: ignore[index]  # fmt: skip
        result["fan_out_seconds"] = fan = fan_out(work)
        print("deploy-rules fan-out (median s): " + ", ".join(f"{k} {v}" for k, v in fan.items()), flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
