#!/usr/bin/env python3
"""Where ``observe()``'s CPU goes: the stream learner's parts as shares of it (issue 14).

    python bench/observe_shares.py [--root DIR] [--day LOG] [--events 200000] [--skip-old]

Why: a port of one part is worth at most that part's share, and cProfile's per-call cost
distorts the shares of a loop of small Python calls (it puts the campaign book's walk at twice
its weight). Here each part is a wrapper that reads ``time.process_time()`` around the part's
own method: a few microseconds a call, on parts called once per call or micro-batch (the book's
methods, the trainer, the signature book, the part sums, ``_add``).

Workloads, each in a fresh process of the tree at ``--root`` (default: this checkout; a ``git
archive`` copy of main with its built kernels profiles main):

- ``old``: bench/gen_stream.py's stream (``--events``, seed 7) in calls of 4,096 rows, as
  bench_observe.py runs it;
- ``day``: ``botguard scan --campaigns`` of a bench/gen_day.py log (``--day``, with its
  ``.robots.txt`` and ``.botguard.yaml``), observe() timed on its own, as bench_observe.py does.

Printed per part: CPU seconds (inclusive: an indented part is inside the one above it), its
share of observe() and its calls; then what no part covers ("the Python between").
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
from typing import Any

BENCH = Path(__file__).resolve().parent

#: (module under botguard.model, owner in it or "" for the module, attribute, label, depth).
PARTS = (
    ("_keys", "RequestKeys", "call", "keys.call (columns, new agents' and addresses' facts)", 0),
    ("_kinds", "RequestKinds", "kinds", "kinds (robots.txt, honeypots)", 0),
    ("_actors", "ActorTable", "ids", "actors.ids", 0),
    ("_actors", "ActorTable", "fold", "actors.fold", 0),
    ("campaigns", "CampaignBook", "observe", "campaign book: observe (the walk)", 0),
    ("stream", "", "_behaviour", "behaviour columns", 0),
    ("stream", "", "referer_kinds", "referer kinds", 0),
    ("stream", "StreamLearner", "_features", "feature parts", 0),
    ("stream", "", "examples", "examples (label join)", 0),
    ("stream", "StreamLearner", "_run", "_run (micro-batches)", 0),
    ("_batches", "PieceGroups", "of", "per-actor grouping", 1),
    ("_batches", "PartIds", "logit", "part sums (scoring)", 1),
    ("campaigns", "CampaignBook", "note_scores", "campaign book: note_scores", 1),
    ("stream", "StreamLearner", "_add", "_add", 1),
    ("stream", "StreamLearner", "_start", "publication (_start)", 1),
    ("stream", "StreamLearner", "_close", "_close", 1),
    ("_join", "Trainer", "learn", "training", 2),
    ("signature_arrays", "ArraySignatureBook", "add_groups", "signature book (kernel)", 2),
    ("signatures", "SignatureBook", "add_groups", "signature book (pure)", 2),
    ("stream", "StreamLearner", "_maintain", "upkeep (_maintain)", 2),
    ("campaigns", "CampaignBook", "expire", "campaign book: expire", 3),
)


def _wrap(spent: dict[str, list[float]]) -> None:
    """Wrap every part found in the tree on ``sys.path`` with a CPU timer (a tree without one of
    them, an older checkout, skips it)."""
    import importlib

    for module, owner, attribute, label, _ in PARTS:
        try:
            found = importlib.import_module(f"botguard.model.{module}")
        except ImportError:
            continue
        holder = getattr(found, owner, None) if owner else found
        plain = getattr(holder, attribute, None) if holder is not None else None
        if plain is None or (owner and attribute not in vars(holder)):
            continue
        spent[label] = [0.0, 0]

        def timed(*args: Any, _plain: Any = plain, _cell: list[float] = spent[label], **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return _plain(*args, **kwargs)
            finally:
                _cell[0] += time.process_time() - start
                _cell[1] += 1

        setattr(holder, attribute, timed)


def _timed_observe(observe: Any, total: dict[str, float]) -> Any:
    def timed(requests: Any) -> Any:
        start = time.process_time()
        try:
            return observe(requests)
        finally:
            total["cpu"] += time.process_time() - start
            total["events"] += requests.height

    return timed


def child(workload: str, day: Path | None, events: int) -> dict[str, Any]:
    """Run one workload in this process on the tree at ``BENCH_ROOT``; CPU per part."""
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, os.environ["BENCH_ROOT"])
    spent: dict[str, list[float]] = {}
    total = {"cpu": 0.0, "events": 0.0}
    _wrap(spent)
    from botguard.model import stream

    if workload == "old":
        plain_init = stream.StreamLearner.__init__

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            plain_init(self, *args, **kwargs)
            self.observe = _timed_observe(self.observe, total)

        stream.StreamLearner.__init__ = init  # type: ignore[method-assign]
        import bench_observe

        with tempfile.TemporaryDirectory(prefix="observe_shares-") as tmp:
            bench_observe.child_old(events, Path(tmp) / "old.npy")
    else:
        assert day is not None
        from botguard.cli import main
        from botguard.model import replay

        plain = replay.ScanReplay._observed

        def observed(batches: Any, learner: Any) -> Any:
            learner.observe = _timed_observe(learner.observe, total)
            return plain(batches, learner)

        replay.ScanReplay._observed = staticmethod(observed)  # type: ignore[method-assign]
        with tempfile.TemporaryDirectory(prefix="observe_shares-") as tmp:
            argv = ["scan", str(day), "--robots", f"{day}.robots.txt", "--config", f"{day}.botguard.yaml",
                    "--format", "json", "-o", f"{tmp}/scan.json", "--state", f"{tmp}/state.db", "--no-dns",
                    "--campaigns"]  # fmt: skip
            if main(argv) != 0:
                raise SystemExit("the scan failed")
    import botguard

    return {"total": total, "parts": spent, "botguard": str(Path(botguard.__file__).parent)}


def report(workload: str, got: dict[str, Any]) -> None:
    cpu, events = got["total"]["cpu"], got["total"]["events"]
    print(
        f"{workload} ({got['botguard']}): observe() {cpu:.2f} s CPU, {events:,.0f} events, {events / cpu:,.0f} events/s"
    )
    depth = {label: level for *_, label, level in PARTS}
    covered = 0.0
    for label, (seconds, calls) in got["parts"].items():
        if not calls:  # the tree has it, this workload never calls it (the pure signature book)
            continue
        if depth[label] == 0:
            covered += seconds
        print(
            f"  {'  ' * depth[label]}{label:<{58 - 2 * depth[label]}} {seconds:7.2f} s {100 * seconds / cpu:5.1f}%  {calls:>6} calls"
        )
    print(
        f"  {'the Python between (observe() less the top-level parts)':<58} {cpu - covered:7.2f} s {100 * (cpu - covered) / cpu:5.1f}%"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=BENCH.parent, help="the checkout to profile")
    parser.add_argument("--day", type=Path, help="a bench/gen_day.py log (else only the old generator)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--skip-old", action="store_true")
    parser.add_argument("--child", choices=("old", "day"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.day, args.events)))
        return 0
    print(f"uptime: {os.popen('uptime').read().strip()}; root {args.root}")
    workloads = ([] if args.skip_old else ["old"]) + (["day"] if args.day else [])
    for workload in workloads:
        env = {**os.environ, "BENCH_ROOT": str(args.root.resolve()), "PYTHONPATH": str(args.root.resolve())}
        argv = [sys.executable, __file__, "--child", workload, "--events", str(args.events)]
        argv += ["--day", str(args.day)] if args.day else []
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise SystemExit(f"{workload} failed: {done.stderr[-3000:]}")
        report(workload, json.loads(done.stdout.splitlines()[-1]))
    print(f"uptime: {os.popen('uptime').read().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
