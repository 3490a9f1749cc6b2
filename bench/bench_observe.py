#!/usr/bin/env python3
"""The stream learner's ``observe()`` speed, against a baseline checkout in the same command (issue 14).

    python bench/bench_observe.py [--baseline DIR] [--repeat 3] [--events 200000] [--day LOG]
                                  [--scan] [--week LOG] [--keep DIR]

Two workloads, each run in a fresh process per repetition, this tree and ``--baseline`` (a
checkout of another commit, e.g. ``git worktree add --detach /tmp/base main``) interleaved, best
of ``--repeat`` by CPU seconds (the machine is shared: wall times are printed beside them):

- ``old``: bench/gen_stream.py's stream (``--events``, seed 7) in calls of 4,096 rows, as
  ``botguard watch`` hands them over (bench_model_stream.py's loop, without its reports);
- ``day``: ``botguard scan --campaigns`` of a bench/gen_day.py log (``--day``, with its
  ``.robots.txt`` and ``.botguard.yaml``), run in process with ``observe()`` timed on its own,
  so the replay's cost and the rest of the scan come from one run; ``--scan`` also times
  ``scan --no-campaigns``;
- ``week`` (``--week``, a multi-day gen_day log): ``observe()`` in calls of 4,096 rows as a watch,
  the learner's sizes (campaign book maps, trainer rows, actors) and peak RSS at each day's end.

Each run's outputs are compared with the baseline's: the old stream's scores array-equal, the
day's scan JSON equal (its timings aside). ``--keep DIR`` keeps them.
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
CHUNK = 4096


def child_old(events: int, out: Path) -> dict[str, float]:
    """observe() over the old generator's stream; scores saved to ``out`` (.npy)."""
    import numpy as np

    sys.path.insert(0, str(BENCH))
    from gen_stream import HONEYPOT, ROBOTS_TXT, generate

    sys.path.insert(0, os.environ["BENCH_ROOT"])  # the checkout measured, ahead of gen_stream's
    from botguard.config import Policy, Settings
    from botguard.identity.asn import RangeTableAsn
    from botguard.logs.records import REQUEST_SCHEMA
    from botguard.model.stream import StreamLearner
    from botguard.robots import RobotsTxt

    frame = generate(events, 7, "novel").select(list(REQUEST_SCHEMA))
    settings = Settings(policy=Policy(block_categories=("scanner",)), honeypots=(HONEYPOT,))
    robots = RobotsTxt.parse(ROBOTS_TXT)
    learner = StreamLearner(settings, robots=lambda host: robots, asn_db=RangeTableAsn())
    scores = np.empty(frame.height)
    wall = cpu = 0.0
    for start in range(0, frame.height, CHUNK):
        part = frame.slice(start, CHUNK)
        t0, c0 = time.perf_counter(), time.process_time()
        scores[start : start + part.height] = learner.observe(part).to_numpy()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        learner.candidates()  # as `botguard watch` polls them (not timed)
    np.save(out, scores)
    return {"events": frame.height, "cpu": cpu, "wall": wall}


def child_day(log: Path, out: Path, campaigns: bool) -> dict[str, float]:
    """``botguard scan`` of a gen_day log in process, observe() timed on its own; JSON to ``out``."""
    sys.path.insert(0, os.environ["BENCH_ROOT"])
    from botguard.cli import main
    from botguard.model import replay

    timed = {"cpu": 0.0, "wall": 0.0, "events": 0}
    plain = replay.ScanReplay._observed

    def observed(batches, learner):  # type: ignore[no-untyped-def]
        observe = learner.observe

        def timed_observe(requests):  # type: ignore[no-untyped-def]
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return observe(requests)
            finally:
                timed["wall"] += time.perf_counter() - t0
                timed["cpu"] += time.process_time() - c0
                timed["events"] += requests.height

        learner.observe = timed_observe
        return plain(batches, learner)

    replay.ScanReplay._observed = staticmethod(observed)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="bench_observe-") as tmp:
        argv = ["scan", str(log), "--robots", f"{log}.robots.txt", "--config", f"{log}.botguard.yaml",
                "--format", "json", "-o", str(out), "--state", f"{tmp}/state.db", "--no-dns",
                "--campaigns" if campaigns else "--no-campaigns"]  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        code = main(argv)
        total_wall, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    if code != 0:
        raise SystemExit(f"scan exited {code}")
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**timed, "scan_cpu": total_cpu, "scan_wall": total_wall, "peak_mb": peak}


def child_week(log: Path, out: Path) -> dict[str, float]:
    """A multi-day log observed as a watch would; each day's end: the learner's sizes and peak RSS."""
    sys.path.insert(0, os.environ["BENCH_ROOT"])
    import resource

    import polars as pl

    from botguard.config import load_settings
    from botguard.logs import read_batches
    from botguard.model.stream import StreamLearner
    from botguard.robots.sources import RobotsSources, parse_robots_option

    settings = load_settings(Path(f"{log}.botguard.yaml"))
    robots = RobotsSources(parse_robots_option((f"{log}.robots.txt",), False))
    frame = pl.concat([b.requests for b in read_batches([str(log)])])
    learner = StreamLearner.from_config(settings, robots=robots)
    days: list[dict[str, float]] = []
    day_of = frame.get_column("time").dt.date().to_list()
    cpu = 0.0
    for start in range(0, frame.height, CHUNK):
        part = frame.slice(start, CHUNK)
        c0 = time.process_time()
        learner.observe(part)
        cpu += time.process_time() - c0
        ends = start + part.height
        if ends == frame.height or day_of[ends] != day_of[start]:
            book = learner.campaigns
            days.append({
                "clients": len(book.clients), "pages": len(book.pages), "chains": len(book.chains),
                "bursts": len(book.bursts), "scores": len(book.scores), "raised": len(book.raised_),
                "rows": len(learner.trainer.table.index), "actors": len(learner.actors),
                # the signature book: keys, and the kernel book's slots and interned names (0: none)
                "sig_keys": len(learner.book), "sig_slots": len(getattr(learner.book, "_key_of", ())),
                "sig_names": len(getattr(learner.book, "_name_of", ())),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            })  # fmt: skip
    out.write_text(json.dumps(days))
    return {"events": frame.height, "cpu": cpu, "wall": cpu, "peak_mb": days[-1]["rss_mb"]}


def run_child(root: Path, work: str, args: argparse.Namespace, out: Path) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", work, "--out", str(out), "--events", str(args.events)]
    if args.day:
        argv += ["--day", str(args.day)]
    if args.week:
        argv += ["--week", str(args.week)]
    env = {**os.environ, "BENCH_ROOT": str(root), "PYTHONPATH": str(root)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{work} at {root} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def same(work: str, a: Path, b: Path) -> bool:
    """Whether two runs' outputs are equal (scores array-equal; scan JSON without its timings)."""
    if work == "old":
        import numpy as np

        return bool(np.array_equal(np.load(a), np.load(b)))
    if work == "week":
        return True  # sizes, not outputs: printed side by side
    return _stable(json.loads(a.read_text())) == _stable(json.loads(b.read_text()))


def _stable(doc: dict) -> dict:
    """A scan document without what differs from run to run (timings, paths of the run)."""
    return {k: v for k, v in doc.items() if k not in ("timings", "generated_at", "state", "elapsed")}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--day", type=Path, help="a bench/gen_day.py log (else only the old generator)")
    parser.add_argument("--scan", action="store_true", help="also time scan --no-campaigns of --day")
    parser.add_argument("--week", type=Path, help="a multi-day bench/gen_day.py log: sizes day by day")
    parser.add_argument("--skip-old", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep each run's outputs here")
    parser.add_argument("--child", choices=("old", "day", "scan", "week"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "old":
        print(json.dumps(child_old(args.events, args.out)))
        return 0
    if args.child == "week":
        print(json.dumps(child_week(args.week, args.out)))
        return 0
    if args.child in ("day", "scan"):
        print(json.dumps(child_day(args.day, args.out, args.child == "day")))
        return 0
    print(f"uptime: {os.popen('uptime').read().strip()}")
    roots = {"this": BENCH.parent} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    works = (
        ([] if args.skip_old else ["old"])
        + (["day"] + (["scan"] if args.scan else []) if args.day else [])
        + (["week"] if args.week else [])
    )
    keep = args.keep or Path(tempfile.mkdtemp(prefix="bench_observe-"))
    keep.mkdir(parents=True, exist_ok=True)
    best: dict[tuple[str, str], dict[str, float]] = {}
    for rep in range(args.repeat):
        for work in works:
            for name, root in roots.items():
                out = keep / f"{work}-{name}-{rep}.{'npy' if work == 'old' else 'json'}"
                got = run_child(root, work, args, out)
                print(
                    f"  {work} {name} #{rep}: {json.dumps({k: round(v, 2) for k, v in got.items()})}",
                    flush=True,
                )
                key = "scan_cpu" if work == "scan" else "cpu"
                if (work, name) not in best or got[key] < best[work, name][key]:
                    best[work, name] = got
    print(f"uptime: {os.popen('uptime').read().strip()}")
    for work in works:
        for name in roots:
            b = best[work, name]
            if work == "week":
                sizes = json.loads((keep / f"week-{name}-0.json").read_text())
                print(f"week {name:8}: observe {b['cpu']:.2f} s CPU; by day:")
                for k in sizes[0]:
                    print(f"  {k:7} " + " ".join(f"{d[k]:.0f}" for d in sizes))
                continue
            if work == "scan":
                print(
                    f"{work:4} {name:8}: scan {b['scan_cpu']:.2f} s CPU, {b['scan_wall']:.2f} s wall, peak {b['peak_mb']:.0f} MB"
                )
                continue
            line = f"{work:4} {name:8}: observe {b['events'] / b['cpu']:,.0f} ev/s CPU ({b['cpu']:.2f} s CPU, {b['wall']:.2f} s wall)"
            if work == "day":
                rest = b["scan_cpu"] - b["cpu"]
                line += f"; scan {b['scan_cpu']:.2f} s CPU ({b['scan_wall']:.2f} s wall), rest {rest:.2f} s CPU, replay/rest {b['cpu'] / rest:.2f}x, peak {b['peak_mb']:.0f} MB"
            print(line)
        if "baseline" in roots:
            key = "scan_cpu" if work == "scan" else "cpu"
            ratio = best[work, "baseline"][key] / best[work, "this"][key]
            equal = all(
                same(work, keep / f"{work}-this-{r}.{'npy' if work == 'old' else 'json'}",
                     keep / f"{work}-baseline-{r}.{'npy' if work == 'old' else 'json'}")
                for r in range(args.repeat)
            )  # fmt: skip
            print(
                f"{work:4} speed-up (baseline CPU / this CPU): {ratio:.2f}x; outputs equal to the baseline's: {equal}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
