#!/usr/bin/env python3
"""Where a 100-line `botguard scan` spends its time: imports and each step of the scan.

    python bench/small_stages.py [--lines 100] [--repeat 5] [--baseline DIR]

The scan is bench_small.py's (a 100-line log, the example's robots.txt, a state database that
already holds an earlier scan, identity with ``--no-dns``, the model on, JSON to a file), run
through the real CLI in a child process that times, with ``time.process_time`` (CPU of every
thread) and ``time.perf_counter`` (wall), each import and each step ``run_scan`` calls (wrapped
by name, so the steps are those of ``botguard/app/scan.py``; what ``run_scan`` does besides them,
mostly importing the model step's modules, is their difference), and counts the polars queries
each step collects and the dataclasses the imports decorate. The first child fills the start-up
cache and is not counted; the table gives the best of ``--repeat`` children per row.
``--baseline DIR`` runs the same children on the botguard tree in DIR (a ``git archive`` copy,
its ``botguard/rules`` linked to its ``rules/``, see README.md) in the same command,
interleaved, and prints its columns beside this tree's. Children write bytecode and have a cache
directory of their own per tree (see bench_small.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _stages import WRAP_STEPS, best_of  # noqa: E402
from bench_small import EXAMPLE, ROBOTS, child_env  # noqa: E402

#: Runs in the child: argv = [log, state, out, robots]; prints [[stage, wall s, CPU s, collects], ...].
CHILD = (
    r"""
import dataclasses, json, sys, time
rows = []
began_wall, began_cpu = time.perf_counter(), time.process_time()
decorated = [0, 0.0]
real_process = dataclasses._process_class
def process(cls, *args, **kwargs):
    cpu = time.process_time()
    try:
        return real_process(cls, *args, **kwargs)
    finally:
        decorated[0] += 1
        decorated[1] += time.process_time() - cpu
dataclasses._process_class = process
import botguard.cli
import botguard.loading
from botguard.cli import main
# as the command does first (a baseline tree older than tune_libraries tunes the allocator only)
(
    getattr(botguard.loading, "tune_libraries", None)
    or getattr(botguard.cli, "tune_libraries", None)
    or botguard.cli.tune_allocator
)()
def timed_import(name):
    wall, cpu = time.perf_counter(), time.process_time()
    __import__(name)
    rows.append(("import " + name, time.perf_counter() - wall, time.process_time() - cpu, 0))
for name in ("polars", "numpy", "click", "yaml", "botguard.cli.scan"):
    timed_import(name)
# the count in the queries column, so two trees' rows line up
rows.append(("  of which dataclass decorations (count)", 0.0, decorated[1], decorated[0]))
before_run, before_run_cpu = decorated[0], decorated[1]
"""
    + WRAP_STEPS
    + r"""
steps_end = len(rows)
log, state, out, robots = sys.argv[1:5]
wall, cpu, queries = time.perf_counter(), time.process_time(), collects[0]
code = main(["scan", log, "--robots", robots, "--no-dns", "--format", "json", "--output", out, "--state", state])
rows.append(("command in all", time.perf_counter() - wall, time.process_time() - cpu, collects[0] - queries))
total = next(row for row in rows if row[0] == "run_scan in all")
steps = [row for row in rows[steps_end:] if row[0] not in ("run_scan in all", "report written", "command in all")]
rows.append(("run_scan's other work (model import)", total[1] - sum(r[1] for r in steps),
             total[2] - sum(r[2] for r in steps), total[3] - sum(r[3] for r in steps)))
rows.append(("  dataclass decorations in it (count)", 0.0, decorated[1] - before_run_cpu, decorated[0] - before_run))
rows.append(("process after the interpreter", time.perf_counter() - began_wall, time.process_time() - began_cpu, collects[0]))
assert code == 0, code
print(json.dumps(rows))
"""
)


def child(
    tree: Path | None, work: Path, log: Path, prepared: Path, run: int
) -> list[tuple[str, float, float, int]]:
    """One child's rows (``tree``: another botguard checkout, else this one)."""
    state = work / f"state-{run}.db"
    if prepared.exists():
        shutil.copyfile(prepared, state)
    argv = [sys.executable, "-c", CHILD, str(log), str(state), str(work / "out.json"), str(ROBOTS)]
    env = child_env(work / "cache")
    if tree is not None:
        argv.insert(1, "-P")  # the baseline's botguard, not this tree's (see README.md)
        env["PYTHONPATH"] = str(tree)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return [tuple(row) for row in json.loads(done.stdout.strip().splitlines()[-1])]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5, help="children per tree; the best counts")
    p.add_argument("--baseline", type=Path, help="another botguard tree to time the same way")
    args = p.parse_args(argv)
    lines = EXAMPLE.read_bytes().splitlines(keepends=True)
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    runs: dict[str, list[list[tuple[str, float, float, int]]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        works = {name: Path(tmp) / f"tree-{i}" for i, name in enumerate(trees)}
        for name, tree in trees.items():  # an earlier scan in the state, a warm cache (not counted)
            work = works[name]
            work.mkdir()
            (work / "earlier.log").write_bytes(b"".join(lines[: args.lines]))
            child(tree, work, work / "earlier.log", work / "none.db", -1)
            shutil.copyfile(work / "state--1.db", work / "earlier.db")
        print(f"{os.getloadavg()[0]:.1f} load; {args.lines}-line scan, best of {args.repeat} per row")
        for run in range(args.repeat):
            for name, tree in trees.items():
                work = works[name]
                log = work / f"run-{run}.log"  # a new file each run, read whole
                log.write_bytes(b"".join(lines[args.lines : 2 * args.lines]))
                runs[name].append(child(tree, work, log, work / "earlier.db", run))
    bests = {name: best_of(r) for name, r in runs.items()}
    header = "".join(f" | {name:>26s}" for name in bests)
    print(f"{'stage (ms: CPU / wall / polars queries)':44s}{header}")
    for stage in bests["this tree"]:
        cells = ""
        for best in bests.values():
            wall, cpu, queries = best.get(stage, (float("nan"), float("nan"), 0))
            cells += f" | {cpu * 1000:8.1f} {wall * 1000:8.1f} {queries:6d}"
        print(f"{stage:44s}{cells}")
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
