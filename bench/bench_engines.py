#!/usr/bin/env python3
"""`scan --engine spark|dask` against the single-machine scan on one generated log (issue 17).

    python bench/bench_engines.py [--lines 1000000] [--repeat 3] [--piece-mib 32] [--json OUT]

A generated combined log (bench/gen_logs.py, seed 1) is scanned in the same run, each scan in a
process of its own, best of ``--repeat``:

- single: ``run_scan`` as ``botguard scan --no-save --no-dns`` runs it (the baseline);
- spark: the same with ``--engine spark`` on a ``local[2]`` session started in that process
  (JVM start-up included: it is what a one-off scan pays);
- dask: the same on a ``LocalCluster`` of 2 worker processes started in that process (start-up
  included).

Each prints wall seconds and CPU seconds (user+system of the process and every process it
started, read with psutil before the engine is stopped) and checks that the result is the
single-machine scan's (the scan JSON, ordering aside). Then, on one core without an engine:
the per-piece work alone (parse + partial of each piece, ``botguard.engines.work``), the join
(``merge_all`` of every piece's partial) and the judging of the merged clients, which give the
paper projection for 1 TB/day printed at the end (assumptions printed with it).

The machine is shared (2 cores, load 5-15): read wall times as an order of magnitude.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
#: Whose botguard the scans run: this checkout's, or (``--before DIR``) another's, e.g. a
#: worktree of the commit before a change, for figures before and after in the same run.
ROOT = Path(os.environ.get("BENCH_BOTGUARD", BENCH.parent))
sys.path.insert(0, str(ROOT))

from botguard.app import Env, ScanRequest, run_scan  # noqa: E402
from botguard.catalog import load_catalog  # noqa: E402
from botguard.config import Settings  # noqa: E402
from botguard.engines import EngineOptions, Job  # noqa: E402
from botguard.judge import judge_partial  # noqa: E402
from botguard.robots.sources import RobotsOption, RobotsSources  # noqa: E402
from tests.judge.scans import canonical, scan_json  # noqa: E402

TB = 10**12
DAY = 86_400


def _request(log: Path, robots: Path, engine: EngineOptions | None) -> ScanRequest:
    return ScanRequest(
        paths=(str(log),), settings=Settings(), robots=RobotsOption(default=str(robots)), save=False,
        dns=False, engine=engine,
    )  # fmt: skip


def _tree_cpu() -> float:
    """CPU seconds of this process and every live process it started."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += (
            times.user + times.system + (times.children_user + times.children_system if proc is me else 0)
        )
    return total


def one(engine: str, log: Path, robots: Path, piece_mib: int, out: Path) -> None:
    """One scan in this process; writes its figures and its canonical result to ``out``."""
    began = time.perf_counter()
    options = None
    stop = None
    if engine == "spark":
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark = SparkSession.builder.master("local[2]").appName("bench").getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        options, stop = EngineOptions("spark", None, piece_mib << 20), spark.stop
    elif engine == "dask":
        from distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
        )
        options, stop = EngineOptions("dask", cluster.scheduler_address, piece_mib << 20), cluster.close
    started = time.perf_counter() - began
    result = run_scan(_request(log, robots, options), Env()).result
    wall = time.perf_counter() - began
    cpu = _tree_cpu()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process: the driver
    if stop is not None:
        stop()
    doc = canonical(scan_json(result))
    out.write_text(json.dumps({"wall": wall, "start": started, "cpu": cpu, "rss_mib": rss_mib, "doc": doc}))


def _run_one(
    engine: str, log: Path, robots: Path, piece_mib: int, tmp: Path, root: str | None = None
) -> dict[str, Any]:
    out = tmp / f"{engine}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, BENCH_BOTGUARD=root, PYTHONPATH=root) if root else None  # workers too
    done = subprocess.run(
        [sys.executable, __file__, "--one", engine, str(log), str(robots), "--piece-mib", str(piece_mib),
         "--out", str(out)],
        check=False, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    if done.returncode:
        sys.exit(
            f"{engine} ({root or 'this checkout'}) failed:\n" + "\n".join(done.stderr.splitlines()[-15:])
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.loads(out.read_text())
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures["cpu"] = max(figures["cpu"], reaped)
    return figures


def pieces_alone(log: Path, robots: Path, piece_mib: int) -> dict[str, Any]:
    """Per-piece work on one core (no engine); what the scan's machine received before the
    workers joined the partials (every piece's) and receives now (the root of the tree); the
    join in one place and in the tree; the judging of the merged clients."""
    from botguard.engines.join import finish, join_all
    from botguard.engines.pieces import plan
    from botguard.engines.records import FAN_IN
    from botguard.engines.work import piece_segment

    settings = Settings()
    catalog = load_catalog()
    sources = RobotsSources(RobotsOption(default=str(robots)))
    job = Job(catalog, sources, settings, per_host=False)
    pieces = plan([str(log)], None, None, piece_mib << 20)
    leaves = [piece_segment(job, piece) for piece in pieces]
    began = time.perf_counter()
    merged = finish(join_all(leaves, None), pieces)
    join_s = time.perf_counter() - began
    began = time.perf_counter()
    segments = leaves
    while len(segments) > 1:
        segments = [join_all(segments[at : at + FAN_IN], None) for at in range(0, len(segments), FAN_IN)]
    tree_s = time.perf_counter() - began
    began = time.perf_counter()
    judge_partial(merged, catalog, sources, settings)
    judge_s = time.perf_counter() - began
    return {
        "pieces": len(pieces),
        "piece_s": [leaf.seconds for leaf in leaves],
        "piece_mb": [leaf.size / 1e6 for leaf in leaves],
        "piece_lines": [leaf.head.lines for leaf in leaves],
        "join_s": join_s,
        "tree_s": tree_s,
        "judge_s": judge_s,
        "clients": merged.clients.height,
        "partial_mb": sum(len(leaf.partial) for leaf in leaves) / 1e6,
        "root_mb": len(segments[0].partial) / 1e6,
        "fan_in": FAN_IN,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--piece-mib", type=int, default=32)
    p.add_argument("--json", help="write the figures here too")
    p.add_argument("--engines", default="spark,dask", help="which engines (comma-separated)")
    p.add_argument("--before", metavar="DIR", help="also run engines on the botguard checked out in DIR")
    p.add_argument(
        "--before-engines",
        default="dask",
        help="which engines --before runs (Spark's workers import this checkout)",
    )
    p.add_argument("--one", nargs=3, metavar=("ENGINE", "LOG", "ROBOTS"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        engine, log, robots = args.one
        one(engine, Path(log), Path(robots), args.piece_mib, Path(args.out))
        return 0
    print(f"uptime: {os.popen('uptime').read().strip()}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        log, robots = tmp / "access.log", tmp / "robots.txt"
        subprocess.run(
            [sys.executable, str(BENCH / "gen_logs.py"), "--lines", str(args.lines), "--seed", "1", "--days", "1",
             "--out", str(log), "--robots-out", str(robots)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        size_mb = log.stat().st_size / 1e6
        print(f"log: {args.lines:,} lines, {size_mb:,.0f} MB, pieces of {args.piece_mib} MiB")
        figures: dict[str, Any] = {
            "lines": args.lines,
            "mb": size_mb,
            "piece_mib": args.piece_mib,
            "runs": {},
        }
        docs: dict[str, Any] = {}
        kinds = [("single", None)]
        for engine in args.engines.split(","):
            before = args.before and engine in args.before_engines.split(",")
            kinds += [(engine, None)] + ([(engine, args.before)] if before else [])
        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.repeat):  # interleaved: load drifts alike for each kind
            for engine, root in kinds:
                label = engine + (" before" if root else "")
                runs.setdefault(label, []).append(_run_one(engine, log, robots, args.piece_mib, tmp, root))
        base_wall = min(r["wall"] for r in runs["single"])
        for label, done in runs.items():
            best = min(done, key=lambda r: r["wall"])
            docs[label] = best["doc"]
            for r in done:
                r.pop("doc", None)
            figures["runs"][label] = done
            equal = "" if label == "single" else f"  equal to single: {docs[label] == docs['single']}"
            walls = ", ".join(f"{r['wall']:.1f}" for r in done)
            print(
                f"{label:>12}: wall {best['wall']:7.1f} s (x{best['wall'] / base_wall:.2f} single; start-up "
                f"{best['start']:.1f} s)  cpu {min(r['cpu'] for r in done):7.1f} s (best)  driver peak RSS "
                f"{min(r['rss_mib'] for r in done):,.0f} MiB  runs: {walls}{equal}"
            )
        alone = pieces_alone(log, robots, args.piece_mib)
        figures["alone"] = alone
        rates = [mb / s for mb, s in zip(alone["piece_mb"], alone["piece_s"]) if s > 0]
        lines_s = [n / s for n, s in zip(alone["piece_lines"], alone["piece_s"]) if s > 0]
        per_piece = sorted(rates)[len(rates) // 2]
        print(
            f"per piece on one core (no engine): {alone['pieces']} pieces, median {per_piece:.1f} MB/s "
            f"({sorted(lines_s)[len(lines_s) // 2]:,.0f} lines/s), slowest {min(rates):.1f} MB/s; judge "
            f"{alone['judge_s']:.2f} s for {alone['clients']:,} clients\n"
            f"the scan's machine receives: before (every piece's partial) {alone['pieces']} partials, "
            f"{alone['partial_mb']:.1f} MB, joined there in {alone['join_s']:.2f} s; now (joined on the "
            f"workers {alone['fan_in']} at a time, {alone['tree_s']:.2f} s of joining on one core) 1 partial, "
            f"{alone['root_mb']:.1f} MB ({alone['root_mb'] * 1e6 / alone['clients']:.0f} B per client)"
        )
        need = TB / DAY / 1e6
        peak = 3
        print(
            f"paper projection, 1 TB/day of logs ({need:.1f} MB/s on average, x{peak} at the daily peak): "
            f"{need / per_piece:.1f} worker cores on average, {peak * need / per_piece:.1f} at the peak, at the "
            f"median piece rate; a day's terabyte re-scanned as a batch takes "
            + ", ".join(f"{TB / 1e6 / (per_piece * n) / 3600:.1f} h on {n}" for n in (4, 16, 64))
            + " cores (parse+partial only; the join and judging on one machine grow with distinct clients)"
        )
        figures["projection"] = {"mb_s_per_core": per_piece, "tb_day_mb_s": need}
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
