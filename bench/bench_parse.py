#!/usr/bin/env python3
"""Benchmark the logs stage: lines/s per format vs a naive per-line Python `re` loop.

    .venv/bin/python bench/bench_parse.py                       # generate 1M combined lines
    .venv/bin/python bench/bench_parse.py --log FILE            # any combined log
    .venv/bin/python bench/bench_parse.py --memory-lines 5000000  # also peak RSS on 5M lines

Why: the scan budget (0.1x GoAccess's wall time) leaves the parser well under a second per
million lines, which only a batched, vectorised parse reaches. This script measures
`botguard.logs.read_batches` on the same requests written in each supported format (derived
from the input with polars, untimed), and a straightforward per-line `re` + `strptime` parser
of the combined log in the same run, and prints their ratio. Best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botguard.logs import read_batches  # noqa: E402
from botguard.logs.records import ParseStats  # noqa: E402

CUSTOM = '$remote_addr - $remote_user [$time_iso8601] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'
NAIVE = re.compile(
    r'^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"'
)


def naive_parse(path: Path, limit: int) -> tuple[int, float]:
    """A per-line Python parser of the kind botguard replaces: (lines, seconds)."""
    start = time.perf_counter()
    rows = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for count, line in enumerate(handle):
            if count >= limit:
                break
            match = NAIVE.match(line)
            if match is None:
                continue
            ip, when, request, status, size, referer, agent = match.groups()
            parts = request.split(" ")
            rows.append(
                (
                    ip,
                    datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z"),
                    parts[0],
                    parts[1] if len(parts) > 1 else None,
                    int(status) if status != "-" else None,
                    int(size) if size != "-" else 0,
                    referer,
                    agent,
                )
            )
    return min(count + 1, limit), time.perf_counter() - start


def time_read(paths: list[str], log_format: str | None, repeat: int) -> tuple[ParseStats, float, float]:
    """(stats, best wall seconds, CPU seconds of that run) for reading ``paths`` fully."""
    best = (float("inf"), 0.0)
    stats = ParseStats()
    for _ in range(repeat):
        stats = ParseStats()
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in read_batches(paths, log_format):
            stats.merge(batch.stats)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return stats, best[0], best[1]


def derive_formats(combined: Path, out_dir: Path) -> dict[str, tuple[Path, str | None]]:
    """The same requests in every format: name -> (file, --log-format value)."""
    rows = pl.concat([b.requests for b in read_batches([str(combined)], "combined")])
    local = pl.col("time").dt.strftime("%d/%b/%Y:%H:%M:%S +0000")
    ua = pl.when(pl.col("user_agent") == "").then(pl.lit("-")).otherwise(pl.col("user_agent"))
    ref = pl.when(pl.col("referer") == "").then(pl.lit("-")).otherwise(pl.col("referer"))
    head = pl.concat_str(
        pl.col("ip"),
        pl.lit(" - - ["),
        local,
        pl.lit('] "'),
        pl.col("request"),
        pl.lit('" '),
        pl.col("status").cast(pl.String).fill_null("-"),
        pl.lit(" "),
        pl.col("bytes").cast(pl.String),
    )
    tail = pl.concat_str(pl.lit(' "'), ref, pl.lit('" "'), ua, pl.lit('"'))
    texts = {
        "common": head,
        "vhost_combined": pl.concat_str(pl.lit("www.example.com:443 "), head, tail),
        "custom": pl.concat_str(
            pl.col("ip"),
            pl.lit(" - - ["),
            pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            pl.lit('] "'),
            pl.col("request"),
            pl.lit('" '),
            pl.col("status").cast(pl.String).fill_null("-"),
            pl.lit(" "),
            pl.col("bytes").cast(pl.String),
            tail,
            pl.lit(" 0.004"),
        ),
        "json": pl.struct(
            remote_addr="ip",
            time_iso8601=pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            request="request",
            status="status",
            body_bytes_sent="bytes",
            http_referer="referer",
            http_user_agent="user_agent",
        ).struct.json_encode(),
    }
    out = {"combined": (combined, None)}
    for name, expr in texts.items():
        path = out_dir / f"{name}.log"
        rows.select(expr.alias("line")).write_csv(path, include_header=False, quote_style="never")
        out[name] = (path, CUSTOM if name == "custom" else name)
    return out


def peak_rss_mib(path: Path) -> float:
    """Peak RSS of a child process that reads ``path`` with read_batches (MiB)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); from botguard.logs import read_batches\n"
        "n = sum(b.stats.lines for b in read_batches([sys.argv[1]]))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(ROOT)])
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"memory child failed with status {status}")
    return usage.ru_maxrss / 1024


def generate(lines: int, out: Path) -> Path:
    """A seeded combined log from the project's generator (reused if present)."""
    if not out.exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "gen_logs.py"),
                "--lines",
                str(lines),
                "--seed",
                "1",
                "--days",
                "3",
                "--out",
                str(out),
            ],
            check=True,
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, help="a combined log (default: generate --lines)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--baseline-lines", type=int, default=200_000, help="lines the naive loop parses")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--memory-lines", type=int, default=0, help="also measure peak RSS on this many lines"
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    log = args.log or generate(args.lines, args.out_dir / f"parse-{args.lines}-s1.log")

    base_lines, base_seconds = naive_parse(log, args.baseline_lines)
    base_rate = base_lines / base_seconds
    print(
        f"baseline (per-line re + strptime): {base_lines:,} lines in {base_seconds:.2f} s = {base_rate:,.0f} lines/s"
    )
    print(
        f"{'format':<16}{'lines':>11}{'parsed':>11}{'malformed':>10}{'wall s':>8}{'cpu s':>8}{'lines/s':>12}{'x naive':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, (path, fmt) in derive_formats(log, Path(tmp)).items():
            stats, wall, cpu = time_read([str(path)], fmt, args.repeat)
            rate = stats.lines / wall
            print(
                f"{name:<16}{stats.lines:>11,}{stats.parsed:>11,}{stats.malformed:>10,}{wall:>8.2f}{cpu:>8.2f}"
                f"{rate:>12,.0f}{rate / base_rate:>9.1f}"
            )
        _, wall, _ = time_read([str(log)], None, args.repeat)
        print(f"auto-detected combined: {wall:.2f} s")
    if args.memory_lines:
        big = generate(args.memory_lines, args.out_dir / f"parse-{args.memory_lines}-s1.log")
        print(f"peak RSS reading {args.memory_lines:,} lines: {peak_rss_mib(big):.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
