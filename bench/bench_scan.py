#!/usr/bin/env python3
"""Time `botguard scan` against GoAccess on the same generated logs, in the same run.

    python bench/bench_scan.py [--sizes 1000000,5000000] [--repeat N] [--skip-goaccess] [--floor]

Why a ratio and not seconds: machines differ, so the scan issue sets its targets relative to a
baseline measured here and now (GoAccess parsing the same file into JSON), plus an absolute
memory ceiling. Targets checked:

- wall time of `botguard scan` <= 0.15 x GoAccess's on the 1M-line log, <= 0.12 x on the 5M-line log;
- peak RSS of `botguard scan` <= 512 MiB on the 5M-line log (it must stream, not load the file).

Logs come from bench/gen_logs.py (seed 1, 3 days) and are cached under bench/out/ (gitignored),
keyed by size, seed and a digest of the generator's source, so a generator change regenerates
them. Each tool runs as a child process; its wall time is measured around it, and its peak RSS
comes from the kernel's accounting of that one child (os.wait4). The best of --repeat runs
counts. `botguard scan`'s JSON summary is checked against the generator's truth sidecar (lines,
malformed) so a fast but wrong scan does not pass silently. ``--floor`` also times what any scan
pays before judging anything (start-up on a 100-line log; the parse of the whole log alone).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gen_logs  # noqa: E402

#: botguard / goaccess wall time: at most this on a log of this many lines.
TARGET_RATIOS = {1_000_000: 0.15, 5_000_000: 0.12}
RATIO_AT = 1_000_000
TARGET_RSS_MIB = 512  # peak RSS of botguard scan, on the 5M-line log
RSS_AT = 5_000_000


ArgvFor = Callable[[Path], list[str]]  # the command line, given the run's scratch directory
Check = Callable[[Path], str | None]  # a problem with the run's output, or None


@dataclass(frozen=True, slots=True)
class Run:
    """One child process: how long it took, its peak memory, how it ended, what it said."""

    seconds: float
    peak_rss_mib: float
    returncode: int
    stderr_tail: str
    cpu_seconds: float = 0.0  # user + system of the child and its threads (load-independent-ish)


@dataclass(frozen=True, slots=True)
class Measure:
    """Best of N runs of one tool on one log (None when the tool was skipped or failed)."""

    tool: str
    lines: int
    best: Run | None
    failure: Run | None = None


def generator_digest() -> str:
    """Short digest of the generator's source: cached logs are reused only if it is unchanged."""
    h = hashlib.sha256()
    for path in sorted(BENCH.glob("_gen*.py")) + [BENCH / "gen_logs.py"]:
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


def ensure_log(out_dir: Path, lines: int, seed: int) -> tuple[Path, Path, dict]:
    """(log, robots.txt, truth) for `lines`, generating them unless an up-to-date cache exists."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"access-{lines}-s{seed}"
    log = out_dir / f"{stem}-{generator_digest()}.log"
    robots = out_dir / "robots.txt"
    truth_path = Path(f"{log}.truth.json")
    if not (log.exists() and truth_path.exists() and robots.exists()):
        for stale in out_dir.glob(f"{stem}-*.log*"):  # an older generator's output
            stale.unlink()
        print(f"generating {lines:,} lines -> {log}", file=sys.stderr)
        code = gen_logs.main(
            [
                "--lines",
                str(lines),
                "--seed",
                str(seed),
                "--days",
                "3",
                "--out",
                str(log),
                "--robots-out",
                str(robots),
            ]
        )
        if code != 0:
            raise SystemExit(f"bench_scan: generator failed with exit code {code}")
    return log, robots, json.loads(truth_path.read_text())


def run_child(argv: list[str], workdir: Path) -> Run:
    """Run `argv` to completion; wall time and peak RSS of this child alone (os.wait4 rusage)."""
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen
    tail = (workdir / "stderr.txt").read_bytes()[-4000:].decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, tail, cpu)  # ru_maxrss is KiB on Linux


def botguard_argv(command: str | None) -> list[str]:
    """The botguard command: --botguard if given, else the venv's console script, else -m."""
    if command:
        return shlex.split(command)
    script = Path(sys.executable).with_name("botguard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "botguard"]


def measure(tool: str, argv_for: ArgvFor, lines: int, repeat: int, check: Check | None = None) -> Measure:
    """Best of `repeat` runs of one tool; stops at the first failure and keeps its stderr."""
    best: Run | None = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as tmp:
            workdir = Path(tmp)
            run = run_child(argv_for(workdir), workdir)
            problem = None if run.returncode == 0 else f"exit code {run.returncode}"
            if problem is None and check is not None:
                problem = check(workdir)
            if problem:
                return Measure(
                    tool,
                    lines,
                    None,
                    replace(run, stderr_tail=f"{problem}\n{run.stderr_tail}"),
                )
        if best is None or run.seconds < best.seconds:
            best = run
    return Measure(tool, lines, best)


def interleaved(runs: list[tuple[str, ArgvFor, Check | None]], lines: int, repeat: int) -> dict[str, Measure]:
    """Best of ``repeat`` runs of each (tool, command, check), taken in turn (A B A B ...) so a
    change in the machine's load hits every tool alike; a tool's first failure is kept."""
    bests: dict[str, Measure] = {}
    for _ in range(repeat):
        for tool, argv_for, check in runs:
            m, prev = measure(tool, argv_for, lines, 1, check), bests.get(tool)
            if prev is not None and (prev.failure is not None or prev.best is None):
                continue
            if prev is None or m.best is None or prev.best is None or m.best.seconds < prev.best.seconds:
                bests[tool] = m
    return bests


def goaccess_argv(log: Path) -> ArgvFor:
    return lambda workdir: ["goaccess", str(log), "--log-format=COMBINED", "-o", str(workdir / "out.json")]


def botguard_scan_argv(base: list[str], log: Path, robots: Path, *extra: str) -> ArgvFor:
    """The scan as a cron job runs it, minus reverse DNS: the generated IPs have no PTR records
    (lookups would only measure the resolver), and a benchmark sends no traffic off the machine.
    Published IP ranges and ASN enrichment still run."""
    return lambda workdir: [
        *base,
        "scan",
        str(log),
        "--robots",
        str(robots),
        "--format",
        "json",
        "--no-dns",
        "--output",
        str(workdir / "out.json"),
        "--state",
        str(workdir / "state.db"),
        *extra,
    ]


#: Parse every line of a log with botguard's reader and nothing else (no judging, no report):
#: the floor of any scan built on it, run as a child like the scan so start-up counts too.
PARSE_ONLY = "import sys\nfrom botguard.logs import read_batches\nfor _ in read_batches([sys.argv[1]], 'combined'): pass\n"


def floor_argvs(log: Path, robots: Path, base: list[str]) -> dict[str, ArgvFor]:
    """What any scan pays before it judges anything: start-up alone (a 100-line log) and the
    parse of the whole log alone. Printed against GoAccess, they show how close to the ratio
    target a scan can get at all."""

    def tiny(workdir: Path) -> list[str]:
        head = workdir / "head.log"
        with log.open("rb") as src, head.open("wb") as dst:
            dst.writelines(line for _, line in zip(range(100), src))
        return botguard_scan_argv(base, head, robots)(workdir)

    return {
        "start-up (scan of a 100-line log)": tiny,
        "parse only (logs stage, no judging)": lambda workdir: [sys.executable, "-c", PARSE_ONLY, str(log)],
    }


def print_floor(
    log: Path, robots: Path, base: list[str], lines: int, repeat: int, ga: Measure | None
) -> None:
    """Time each floor of :func:`floor_argvs` and print it, as a ratio to GoAccess when timed."""
    for name, argv_for in floor_argvs(log, robots, base).items():
        m = measure("botguard", argv_for, lines, repeat)
        if m.best is None:
            print(f"floor {name}: failed\n{m.failure.stderr_tail if m.failure else ''}", file=sys.stderr)
            continue
        ratio = f" = {m.best.seconds / ga.best.seconds:.3f} x GoAccess" if ga is not None and ga.best else ""
        print(f"floor on {lines:,} lines, {name}: {m.best.seconds:.2f} s{ratio}")


def truth_check(truth: dict) -> Check:
    """A check of botguard's JSON summary against the generator's truth (a wrong scan fails)."""

    def check(workdir: Path) -> str | None:
        try:
            summary = json.loads((workdir / "out.json").read_text())["summary"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"no usable JSON summary in --output ({exc.__class__.__name__}: {exc})"
        wrong = [
            f"{k}: scan says {summary.get(k)!r}, truth {truth[k]!r}"
            for k in ("lines", "parsed", "malformed")
            if summary.get(k) != truth[k]
        ]
        return "summary disagrees with the truth sidecar: " + "; ".join(wrong) if wrong else None

    return check


def report(
    results: list[tuple[Measure, Measure | None]], baselines: list[Measure] | None = None
) -> list[str]:
    """The table, then one PASS/FAIL line per target; returns the failed targets. ``baselines``
    (another botguard, e.g. main, timed in the same run) get rows of their own and a ratio line."""
    print(
        f"\n{'lines':>10} {'tool':<9} {'seconds':>8} {'CPU s':>7} {'lines/s':>10} {'peak MiB':>9} {'ratio':>7}"
    )
    failed = []
    others = baselines or [None] * len(results)
    for (bg, ga), base in zip(results, others, strict=True):
        for m in (ga, base, bg):
            if m is None:
                continue
            if m.best is None:
                print(f"{m.lines:>10,} {m.tool:<9} {'failed' if m.failure else 'skipped':>8}")
                continue
            ratio = ""
            if m is not ga and ga is not None and ga.best is not None:
                ratio = f"{m.best.seconds / ga.best.seconds:.3f}"
            print(
                f"{m.lines:>10,} {m.tool:<9} {m.best.seconds:8.2f} {m.best.cpu_seconds:7.2f} "
                f"{m.lines / m.best.seconds:10,.0f} {m.best.peak_rss_mib:9.0f} {ratio:>7}"
            )
        if base is not None and base.best is not None and bg.best is not None:
            print(
                f"{bg.lines:>10,} botguard/baseline: wall {bg.best.seconds / base.best.seconds:.3f}, "
                f"CPU {bg.best.cpu_seconds / base.best.cpu_seconds:.3f}, "
                f"peak RSS {bg.best.peak_rss_mib / base.best.peak_rss_mib:.3f}"
            )
    print()
    for bg, ga in results:
        if bg.best is None and bg.failure is None:  # botguard skipped: no target to judge
            continue
        target = TARGET_RATIOS.get(bg.lines)
        if target is not None and ga is not None:
            ok = bg.best is not None and ga.best is not None and bg.best.seconds <= target * ga.best.seconds
            verdict = "PASS" if ok else "FAIL"
            print(f"{verdict}: botguard/goaccess wall time <= {target} on {bg.lines:,} lines")
            failed += [] if ok else ["ratio"]
        if bg.lines == RSS_AT:
            ok = bg.best is not None and bg.best.peak_rss_mib <= TARGET_RSS_MIB
            print(
                f"{'PASS' if ok else 'FAIL'}: botguard peak RSS <= {TARGET_RSS_MIB} MiB on {RSS_AT:,} lines"
            )
            failed += [] if ok else ["memory"]
    return failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes", default=f"{RATIO_AT},{RSS_AT}", help="comma-separated line counts (default 1M,5M)"
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per tool and size; the best counts (default 1)"
    )
    p.add_argument("--skip-goaccess", action="store_true", help="time botguard only (no ratio)")
    p.add_argument("--skip-botguard", action="store_true", help="time GoAccess only (baseline)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--out-dir", type=Path, default=BENCH / "out", help="cache of generated logs (default bench/out)"
    )
    p.add_argument("--botguard", help="botguard command to run (default: the venv's botguard)")
    p.add_argument(
        "--baseline",
        help="another botguard command timed in the same run, interleaved (e.g. main's checkout: "
        '"env PYTHONPATH=/tmp/main python -m botguard"); prints its row and the ratio to it',
    )
    p.add_argument(
        "--scan-args",
        default="",
        metavar="ARGS",
        help="more arguments for every botguard scan here, the baseline's too (an option needs the "
        "= form: --scan-args=--no-model)",
    )
    p.add_argument(
        "--floor",
        action="store_true",
        help="also time botguard's start-up alone and its parse alone (what any scan pays)",
    )
    p.add_argument(
        "--identity-cost",
        action="store_true",
        help="also time botguard --no-identity and print what identity checks add (target <= 10%%)",
    )
    args = p.parse_args(argv)
    try:
        args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    except ValueError:
        p.error("--sizes takes comma-separated integers, e.g. 1000000,5000000")
    if not args.size_list or min(args.size_list) < 1 or args.repeat < 1:
        p.error("--sizes needs positive line counts and --repeat >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_goaccess = not args.skip_goaccess
    if use_goaccess and shutil.which("goaccess") is None:
        print(
            "bench_scan: goaccess not found on PATH; install it (apt-get install goaccess) "
            "or pass --skip-goaccess to time botguard alone",
            file=sys.stderr,
        )
        return 2
    base = botguard_argv(args.botguard)
    extra = shlex.split(args.scan_args)
    results: list[tuple[Measure, Measure | None]] = []
    baselines: list[Measure] = []
    errors = 0
    for lines in args.size_list:
        log, robots, truth = ensure_log(args.out_dir, lines, args.seed)
        runs: list[tuple[str, ArgvFor, Check | None]] = []
        if use_goaccess:
            runs.append(("goaccess", goaccess_argv(log), None))
        if not args.skip_botguard:
            runs.append(("botguard", botguard_scan_argv(base, log, robots, *extra), truth_check(truth)))
            if args.baseline:
                other = botguard_scan_argv(shlex.split(args.baseline), log, robots, *extra)
                runs.append(("baseline", other, truth_check(truth)))
        measured = interleaved(runs, lines, args.repeat)
        ga = measured.get("goaccess")
        bg = measured.get("botguard", Measure("botguard", lines, None))
        if "baseline" in measured:
            baselines.append(measured["baseline"])
        for m in (ga, bg, measured.get("baseline")):
            if m is not None and m.failure is not None:
                errors += 1
                print(
                    f"\n{m.tool} failed on {lines:,} lines ({m.failure.seconds:.1f} s):\n{m.failure.stderr_tail}",
                    file=sys.stderr,
                )
        results.append((bg, ga))
        if args.floor:
            print_floor(log, robots, base, lines, args.repeat, ga)
        if args.identity_cost and bg.best is not None:
            bare = measure(
                "botguard", botguard_scan_argv(base, log, robots, "--no-identity"), lines, args.repeat
            )
            if bare.best is not None:
                added = bg.best.seconds - bare.best.seconds
                print(
                    f"identity checks on {lines:,} lines: {bare.best.seconds:.2f} s without, {bg.best.seconds:.2f} s "
                    f"with: {added:+.2f} s ({added / bare.best.seconds:+.1%}; target <= +10%)"
                )
    failed = report(results, baselines if len(baselines) == len(results) else None)
    return 1 if errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
