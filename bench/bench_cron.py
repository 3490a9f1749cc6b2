#!/usr/bin/env python3
"""Time `botguard scan` as a cron job runs it every 10 minutes over one growing day log.

    python bench/bench_cron.py [--lines 5000000] [--runs 6] [--botguard CMD] [--baseline CMD]
                               [-- EXTRA SCAN ARGS]

The day's log is the generated bench log (bench/gen_logs.py, cached under bench/out/) taken as
one day: a run every 10 minutes finds ``lines / 144`` new lines. The first scan reads the day so
far (all but the last ``--runs`` ten-minute slices); each following run appends one slice and
scans again with the same state database, so it reads only what was appended (incremental
scans). Printed per run: wall time, CPU time, peak RSS and the lines the scan read; the target
is under 1 s per run on a 5M-line day. The last run's JSON is checked against a full scan
(``--full --no-save``) of the same file. With ``--baseline`` another botguard (a checkout of
main) scans the same slices into its own log and state database, each run after or before this
one in turn, and the figures are given as ratios against it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_scan  # noqa: E402
from bench_small import child_env  # noqa: E402

RUNS_PER_DAY = 144  # every 10 minutes
TARGET_SECONDS = 1.0


def timed(argv: list[str], workdir: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of one child process, with bytecode written and
    a start-up cache of its own (``workdir``), as an installed botguard run by cron has them."""
    env = child_env(workdir / "cache")
    with open(workdir / "stderr.txt", "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def canonical(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc["clients"].sort(key=lambda c: (c["ip"], c["user_agent"] or ""))
    doc["crawlers"].sort(key=lambda c: c["name"])
    return doc


def changed_rows(before: Path, after: Path) -> str:
    """How the clients of two consecutive runs' JSON differ: the same line, only ``model_score``
    (the client pass scores every client again each run), another value, or a new client."""

    def lines(path: Path) -> dict[tuple[str, str | None], dict]:
        clients = json.loads(path.read_text())["clients"]
        return {(c["ip"], c["user_agent"]): c for c in clients}

    old, new = lines(before), lines(after)
    counts = {"same": 0, "only model_score": 0, "other values": 0, "new": 0}
    for key, client in new.items():
        was = old.get(key)
        if was is None:
            counts["new"] += 1
        elif was == client:
            counts["same"] += 1
        elif {**was, "model_score": None} == {**client, "model_score": None}:
            counts["only model_score"] += 1
        else:
            counts["other values"] += 1
    return ", ".join(f"{label} {n:,}" for label, n in counts.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=5_000_000, help="lines of the day log (default 5M)")
    p.add_argument("--runs", type=int, default=6, help="cron runs after the first scan (default 6)")
    p.add_argument("--botguard", help="botguard command to run (default: the venv's botguard)")
    p.add_argument(
        "--baseline",
        help="another botguard command (e.g. 'env PYTHONPATH=/tmp/main .venv/bin/python -m botguard') run"
        " on the same slices with its own log and state, interleaved; CPU ratios against it",
    )
    p.add_argument("--out-dir", type=Path, default=BENCH / "out")
    p.add_argument("extra", nargs="*", help="extra `botguard scan` arguments (after --)")
    args = p.parse_args(argv)
    source, robots, _truth = bench_scan.ensure_log(args.out_dir, args.lines, 1)
    tools = {"botguard": bench_scan.botguard_argv(args.botguard)}
    if args.baseline:
        tools["baseline"] = bench_scan.botguard_argv(args.baseline)
    slice_lines = args.lines // RUNS_PER_DAY
    with tempfile.TemporaryDirectory(prefix="bench-cron-") as tmp, source.open("rb") as src:
        work = {name: Path(tmp) / name for name in tools}
        for folder in work.values():
            folder.mkdir()

        def scan(name: str, *more: str) -> list[str]:
            log, state = work[name] / "access.log", work[name] / "state.db"
            return [*tools[name], "scan", str(log), "--robots", str(robots), "--no-dns", "--format", "json",
                    "--output", str(work[name] / "out.json"), "--state", str(state), *args.extra, *more]  # fmt: skip

        def append(count: int) -> None:
            """The next ``count`` lines to each tool's own log (a stored partial names its file's
            inode), streamed: this process stays small, and a child's peak RSS starts at it."""
            logs = [folder / "access.log" for folder in work.values()]
            with logs[0].open("ab") as out:
                start = out.tell()
                out.writelines(line for _, line in zip(range(count), src, strict=False))
            with logs[0].open("rb") as written:
                for log in logs[1:]:
                    written.seek(start)
                    with log.open("ab") as out:
                        shutil.copyfileobj(written, out)

        first = args.lines - args.runs * slice_lines
        append(first)
        print(f"{os.getloadavg()[0]:.1f} load; day log {args.lines:,} lines, {slice_lines:,} per 10 minutes")
        failed = False
        for name in tools:
            wall, cpu, rss, code = timed(scan(name), work[name])
            failed = failed or code != 0
            print(
                f"{name}: first scan ({first:,} lines): {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB, exit {code}"
            )
        cpus: dict[str, list[float]] = {name: [] for name in tools}
        walls: dict[str, list[float]] = {name: [] for name in tools}
        for run in range(1, args.runs + 1):
            if run == args.runs:
                shutil.copy(work["botguard"] / "out.json", Path(tmp) / "before-last.json")
            append(slice_lines)
            order = list(tools) if run % 2 else list(reversed(tools))  # interleaved: neither always first
            for name in order:
                wall, cpu, rss, code = timed(scan(name), work[name])
                failed = failed or code != 0
                cpus[name].append(cpu)
                walls[name].append(wall)
                print(f"{name}: cron run {run} (+{slice_lines:,} lines): {wall:.2f} s wall, {cpu:.2f} s CPU,"
                      f" {rss:.0f} MiB, exit {code}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        same = not failed
        before = Path(tmp) / "before-last.json"
        if before.exists():
            print(
                f"clients of the last run against the run before: {changed_rows(before, work['botguard'] / 'out.json')}"
            )
        incremental = {name: canonical(work[name] / "out.json") for name in tools}
        for name in tools:
            wall, cpu, _rss, code = timed(scan(name, "--full", "--no-save"), work[name])
            equal = code == 0 and canonical(work[name] / "out.json") == incremental[name]
            same = same and equal
            print(
                f"{name}: full scan of the same file: {wall:.2f} s wall, {cpu:.2f} s CPU; JSON equal: {equal}"
            )
    for name in tools:
        c = sorted(cpus[name])
        print(f"{name}: cron runs CPU best {c[0]:.2f} s, median {statistics.median(c):.2f} s, worst {c[-1]:.2f} s;"
              f" wall best {min(walls[name]):.2f} s")  # fmt: skip
    if args.baseline:
        ratio = statistics.median(cpus["botguard"]) / statistics.median(cpus["baseline"])
        agree = incremental["botguard"] == incremental["baseline"]
        print(
            f"median CPU per cron run: {ratio:.2f}x the baseline's; last run's JSON equal to the baseline's: {agree}"
        )
    worst = max(walls["botguard"])
    verdict = "PASS" if worst <= TARGET_SECONDS and same else "FAIL"
    print(f"{verdict}: every cron run <= {TARGET_SECONDS} s (worst {worst:.2f} s) and equal to a full scan")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
