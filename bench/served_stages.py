#!/usr/bin/env python3
"""Where a 100-line `botguard scan` served by `botguard daemon` spends its time: in the child.

    python bench/served_stages.py [--lines 100] [--repeat 5] [--baseline DIR]

small_stages.py times a one-shot scan's steps; this times the same steps in the child a resident
server forks for the command. The server is `botguard daemon` itself, started by a script that
first wraps each step ``run_scan`` calls (as small_stages.py does), the polars queries, and the
child's own start (``_worker.run_command``): the children it forks inherit the wrappers, and each
writes its rows to the file ``$SERVED_STAGES_OUT`` names (the client's environment is the
child's; ``$SERVED_STAGES_PROFILE``, when set, also names where a cProfile of the command, timed
by CPU, goes). The client is the ordinary ``python -m botguard scan ...``, timed from outside as
bench_small.py times it. Rows: CPU (``time.process_time``: every thread of the child; a forked
child's counters start at zero) and wall of each step, polars queries; the child's minor page
faults (copy-on-write after the fork, first touches); the client's wall and CPU, and the child's
whole CPU as the server reaped it (``cutime``, 10 ms ticks: its exit too). ``--baseline DIR``
does the same with another botguard tree (a ``git archive`` copy, see README.md) in the same
command, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _stages import WRAP_STEPS, Rows, best_of  # noqa: E402
from bench_small import EXAMPLE, ROBOTS, child_env, start_server  # noqa: E402

#: The server: wraps the steps, then runs `botguard daemon`.
SERVER = (
    r"""
import json, os, resource, sys, time
import botguard.loading
botguard.loading.tune_libraries()  # as the command does first, before polars is imported
import botguard.cli
from botguard.resident import _worker
rows = []
"""
    + WRAP_STEPS
    + r"""
import importlib
for spec in filter(None, os.environ.get("SERVED_STAGES_WRAP", "").split(",")):
    module, _, dotted = spec.partition(":")
    owner, *attrs = [importlib.import_module(module), *dotted.split(".")]
    for attr in attrs[:-1]:
        owner = getattr(owner, attr)
    if hasattr(owner, attrs[-1]):
        wrap(owner, attrs[-1], "  . " + spec)
real_run_command = _worker.run_command
def run_command(request, fds, run, server_pid, let_go, *rest):
    forked = time.perf_counter()
    def timed_run(args):
        rows.append(("child set-up (fork -> command)", time.perf_counter() - forked, time.process_time(), 0))
        wall, cpu, queries = time.perf_counter(), time.process_time(), collects[0]
        profile_to = os.environ.get("SERVED_STAGES_PROFILE")
        if profile_to:
            import cProfile
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        try:
            return run(args)
        finally:
            if profile_to:
                profiler.disable()
                profiler.dump_stats(profile_to)
            rows.append(("command in all", time.perf_counter() - wall, time.process_time() - cpu, collects[0] - queries))
            steps = [r for r in rows if r[0] not in ("run_scan in all", "report written", "command in all")
                     and not r[0].startswith(("child", "  "))]
            total = next((r for r in rows if r[0] == "run_scan in all"), None)
            if total is not None:
                rows.append(("run_scan's other work", total[1] - sum(r[1] for r in steps),
                             total[2] - sum(r[2] for r in steps), total[3] - sum(r[3] for r in steps)))
            usage = resource.getrusage(resource.RUSAGE_SELF)
            rows.append(("child until the command ended", time.perf_counter() - forked, time.process_time(), collects[0]))
            rows.append(("  minor page faults (count)", 0.0, 0.0, usage.ru_minflt))
            out = os.environ.get("SERVED_STAGES_OUT")
            if out:
                with open(out, "w") as handle:
                    json.dump(rows, handle)
    real_run_command(request, fds, timed_run, server_pid, let_go, *rest)
_worker.run_command = run_command
sys.exit(botguard.cli.main(["daemon"]))
"""
)


def children_cpu(pid: int) -> float:
    """CPU seconds of process ``pid``'s reaped children (cutime + cstime), in 10 ms ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def served_run(
    python: list[str], env: dict[str, str], server_pid: int, work: Path, log: Path, state: Path
) -> Rows:
    """One served scan: the child's rows, the client's wall and CPU and the child's CPU as reaped."""
    out = work / "rows.json"
    out.unlink(missing_ok=True)
    before = children_cpu(server_pid)
    began = time.perf_counter()
    proc = subprocess.Popen(
        [*python, "-m", "botguard", "scan", str(log), "--robots", str(ROBOTS), "--no-dns", "--format", "json",
         "--output", str(work / "out.json"), "--state", str(state)],
        env={**env, "SERVED_STAGES_OUT": str(out)}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    assert proc.stderr is not None
    if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
        raise SystemExit(f"served scan failed:\n{proc.stderr.read().decode(errors='replace')[-3000:]}")
    rows: Rows = [tuple(row) for row in json.loads(out.read_text())]  # type: ignore[misc]
    time.sleep(0.05)  # the server reaps the child when its pidfd says so
    child = children_cpu(server_pid) - before
    rows.append(("client process (wall, CPU)", wall, usage.ru_utime + usage.ru_stime, 0))
    rows.append(("child as reaped (CPU, 10 ms ticks)", 0.0, child, 0))
    rows.append(
        ("served scan: client wall, client + child CPU", wall, usage.ru_utime + usage.ru_stime + child, 0)
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5, help="served scans per tree; the best counts")
    p.add_argument("--baseline", type=Path, help="another botguard tree to time the same way")
    p.add_argument(
        "--wrap", action="append", default=[], metavar="MODULE:NAME",
        help="also time this function or method (botguard.judge.aggregate:Aggregator.add) where the scan "
        "calls it; repeatable; its rows are not taken out of run_scan's other work",
    )  # fmt: skip
    args = p.parse_args(argv)
    lines = EXAMPLE.read_bytes().splitlines(keepends=True)
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    runs: dict[str, list[Rows]] = {name: [] for name in trees}
    servers = {}
    with tempfile.TemporaryDirectory(prefix="bench-served-") as tmp:
        works, envs, pythons = {}, {}, {}
        try:
            for i, (name, tree) in enumerate(trees.items()):
                work = works[name] = Path(tmp) / f"tree-{i}"
                (work / "run").mkdir(parents=True, mode=0o700)
                env = {
                    **child_env(work / "cache"),
                    "BOTGUARD_DAEMON_SOCKET": str(work / "run" / "daemon.sock"),
                }
                python = [sys.executable] if tree is None else [sys.executable, "-P"]
                if tree is not None:
                    env["PYTHONPATH"] = str(tree)
                env.pop("BOTGUARD_NO_DAEMON", None)
                env["SERVED_STAGES_WRAP"] = ",".join(args.wrap)
                envs[name], pythons[name] = env, python
                (work / "earlier.log").write_bytes(b"".join(lines[: args.lines]))
                subprocess.run(  # an earlier scan in the state, a warm cache (not counted)
                    [*python, "-m", "botguard", "scan", str(work / "earlier.log"), "--robots", str(ROBOTS), "--no-dns",
                     "--format", "json", "--output", str(work / "out.json"), "--state", str(work / "earlier.db")],
                    env={**env, "BOTGUARD_NO_DAEMON": "1"}, check=True, cwd=work, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                servers[name] = start_server([*python, "-c", SERVER], env)
            for name in trees:  # one untimed served scan each (bytecode, first-use caches)
                state = works[name] / "warmup.db"
                shutil.copyfile(works[name] / "earlier.db", state)
                served_run(
                    pythons[name],
                    envs[name],
                    servers[name].pid,
                    works[name],
                    works[name] / "earlier.log",
                    state,
                )
            print(
                f"{os.getloadavg()[0]:.1f} load; {args.lines}-line served scan, best of {args.repeat} per row"
            )
            for run in range(args.repeat):
                for name in trees:
                    work = works[name]
                    log = work / f"run-{run}.log"  # a new file each run, read whole
                    log.write_bytes(b"".join(lines[args.lines : 2 * args.lines]))
                    state = work / f"run-{run}.db"
                    shutil.copyfile(work / "earlier.db", state)
                    runs[name].append(
                        served_run(pythons[name], envs[name], servers[name].pid, work, log, state)
                    )
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(timeout=60)
    bests = {name: best_of(r) for name, r in runs.items()}
    header = "".join(f" | {name:>26s}" for name in bests)
    print(f"{'stage (ms: CPU / wall / polars queries)':48s}{header}")
    for stage in bests["this tree"]:
        cells = ""
        for best in bests.values():
            wall, cpu, queries = best.get(stage, (float("nan"), float("nan"), 0))
            cells += f" | {cpu * 1000:8.1f} {wall * 1000:8.1f} {queries:6d}"
        print(f"{stage:48s}{cells}")
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
