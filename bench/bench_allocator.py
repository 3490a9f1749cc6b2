#!/usr/bin/env python3
"""A full scan under several settings of polars' allocator (jemalloc), runs interleaved.

    python bench/bench_allocator.py [--lines 1000000] [--repeat 3] [--setting NAME=CONF ...]

Each setting is passed as ``_RJEM_MALLOC_CONF``, which the CLI appends after its own
(``loading.ALLOCATOR``), so the setting's options win; ``default`` passes nothing (what a user
gets). Runs go A B C A B C ... so a change in the machine's load hits every setting alike.
Printed per setting: user and system CPU seconds, minor page faults, peak RSS and wall, as
best (least CPU) / median / worst of the runs, and the median CPU as a ratio to the first
setting. The scan is bench_scan's (JSON report, state, --no-dns) on its cached log.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_scan import botguard_argv, botguard_scan_argv, ensure_log  # noqa: E402

DEFAULT_SETTINGS = [
    "default=",
    # the setting before one arena: jemalloc's own count is 4 arenas per core (8 here)
    f"previous=narenas:{4 * (os.cpu_count() or 1)},dirty_decay_ms:100",
    "decay300=dirty_decay_ms:300",
]


def run_once(argv: list[str], conf: str) -> tuple[float, float, int, float, float]:
    """User s, system s, minor faults, peak MiB and wall s of one scan in a child."""
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if conf:
        env["_RJEM_MALLOC_CONF"] = conf
    began = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or b"jemalloc" in err:
        raise SystemExit(f"{conf!r}: exit {proc.returncode}\n{err.decode('utf-8', 'replace')[-2000:]}")
    return usage.ru_utime, usage.ru_stime, usage.ru_minflt, usage.ru_maxrss / 1024, wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--setting", action="append", help="NAME=CONF (default: a built-in list)")
    p.add_argument("--botguard", help="botguard command to run (default: the venv's botguard)")
    p.add_argument("--scan-args", default="", help="extra scan arguments, space-separated")
    args = p.parse_args()
    settings = [s.partition("=")[::2] for s in (args.setting or DEFAULT_SETTINGS)]
    log, robots, _ = ensure_log(BENCH / "out", args.lines, 1)
    argv_for = botguard_scan_argv(botguard_argv(args.botguard), log, robots, *args.scan_args.split())
    runs: dict[str, list[tuple[float, float, int, float, float]]] = {name: [] for name, _ in settings}
    print(f"uptime: {os.getloadavg()}", file=sys.stderr)
    for _ in range(args.repeat):
        for name, conf in settings:
            with tempfile.TemporaryDirectory(prefix="bench-alloc-") as tmp:
                runs[name].append(run_once(argv_for(Path(tmp)), conf))
    print(f"uptime: {os.getloadavg()}", file=sys.stderr)
    base = statistics.median(u + s for u, s, *_ in runs[settings[0][0]])
    print(f"{args.lines:,} lines, {args.repeat} runs each; best/median/worst by CPU")
    print(
        f"{'setting':12} {'user s':>17} {'system s':>17} {'faults k':>17} {'peak MiB':>17} {'wall s':>17}  CPU"
    )
    for name, _ in settings:
        rows = sorted(runs[name], key=lambda r: r[0] + r[1])
        cols = []
        for i, fmt in enumerate(("{:.2f}", "{:.2f}", "{:.0f}", "{:.0f}", "{:.2f}")):
            values = [r[i] / (1000 if i == 2 else 1) for r in rows]
            picked = (values[0], statistics.median(values), values[-1])
            cols.append("/".join(fmt.format(v) for v in picked).rjust(17))
        cpu = statistics.median(r[0] + r[1] for r in rows)
        print(f"{name:12} {' '.join(cols)}  {cpu / base:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
