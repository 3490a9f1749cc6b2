#!/usr/bin/env python3
"""Time `botguard scan` as a cron job runs it every 10 minutes over one growing day log.

    python bench/bench_cron.py [--lines 5000000] [--runs 6] [--botguard CMD] [-- EXTRA SCAN ARGS]

The day's log is the generated bench log (bench/gen_logs.py, cached under bench/out/) taken as
one day: a run every 10 minutes finds ``lines / 144`` new lines. The first scan reads the day so
far (all but the last ``--runs`` ten-minute slices); each following run appends one slice and
scans again with the same state database, so it reads only what was appended (incremental
scans). Printed per run: wall time, CPU time, peak RSS and the lines the scan read; the target
is under 1 s per run on a 5M-line day. The last run's JSON is checked against a full scan
(``--full --no-save``) of the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_scan  # noqa: E402

RUNS_PER_DAY = 144  # every 10 minutes
TARGET_SECONDS = 1.0


def timed(argv: list[str], workdir: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of one child process."""
    with open(workdir / "stderr.txt", "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def canonical(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc["clients"].sort(key=lambda c: (c["ip"], c["user_agent"] or ""))
    doc["crawlers"].sort(key=lambda c: c["name"])
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=5_000_000, help="lines of the day log (default 5M)")
    p.add_argument("--runs", type=int, default=6, help="cron runs after the first scan (default 6)")
    p.add_argument("--botguard", help="botguard command to run (default: the venv's botguard)")
    p.add_argument("--out-dir", type=Path, default=BENCH / "out")
    p.add_argument("extra", nargs="*", help="extra `botguard scan` arguments (after --)")
    args = p.parse_args(argv)
    source, robots, _truth = bench_scan.ensure_log(args.out_dir, args.lines, 1)
    base = bench_scan.botguard_argv(args.botguard)
    slice_lines = args.lines // RUNS_PER_DAY
    with tempfile.TemporaryDirectory(prefix="bench-cron-") as tmp, source.open("rb") as src:
        work = Path(tmp)
        log, state = work / "access.log", work / "state.db"

        def scan(*more: str) -> list[str]:
            return [*base, "scan", str(log), "--robots", str(robots), "--no-dns", "--format", "json",
                    "--output", str(work / "out.json"), "--state", str(state), *args.extra, *more]  # fmt: skip

        first = args.lines - args.runs * slice_lines
        with log.open("wb") as out:
            out.writelines(line for _, line in zip(range(first), src, strict=False))
        print(f"{os.getloadavg()[0]:.1f} load; day log {args.lines:,} lines, {slice_lines:,} per 10 minutes")
        wall, cpu, rss, code = timed(scan(), work)
        print(f"first scan ({first:,} lines): {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB, exit {code}")
        worst, failed = 0.0, code != 0
        for run in range(1, args.runs + 1):
            with log.open("ab") as out:
                out.writelines(line for _, line in zip(range(slice_lines), src, strict=False))
            wall, cpu, rss, code = timed(scan(), work)
            worst, failed = max(worst, wall), failed or code != 0
            print(f"cron run {run} (+{slice_lines:,} lines): {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB,"
                  f" exit {code}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        incremental = canonical(work / "out.json")
        wall, cpu, _rss, code = timed(scan("--full", "--no-save"), work)
        same = code == 0 and not failed and canonical(work / "out.json") == incremental
        print(f"full scan of the same file: {wall:.2f} s wall, {cpu:.2f} s CPU; JSON equal: {same}")
    verdict = "PASS" if worst <= TARGET_SECONDS and same else "FAIL"
    print(f"{verdict}: every cron run <= {TARGET_SECONDS} s (worst {worst:.2f} s) and equal to a full scan")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
