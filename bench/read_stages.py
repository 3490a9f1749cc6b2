#!/usr/bin/env python3
"""Where a big scan's read+merge stage spends its CPU: the parse and the aggregator, apart.

    python bench/read_stages.py LOG --robots robots.txt [--repeat 3] [--baseline DIR]

In a scan the two overlap (the parse runs one batch ahead in a reader thread, the aggregator
folds batches in the main thread, polars' pool serves both), so a stage timer there measures
their sum and load, not either. Here a child process runs them one after the other, with no
reader threads: first every batch of LOG is parsed (``botguard.logs.read_file``), then the
batches are folded by the scan's aggregator (default settings, LOG's robots.txt for every host)
into one partial. Each function named in ``STAGES`` is timed with ``time.process_time`` (CPU of
every thread, polars' pool included); indented rows are part of the row above. The table gives
the best of ``--repeat`` children per row. ``--baseline DIR`` runs the same children on the
botguard tree in DIR (a ``git archive`` copy, see README.md), interleaved, beside this tree's.
Names a tree lacks are left out of its column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: (module, attribute path, label): the label's indentation says which stage it is part of.
STAGES = [
    ("botguard.logs.text", "TemplateFormat.parse_block", "parse: a piece of a block"),
    ("botguard.logs.text", "escape_raw_bytes", "  escape raw bytes"),
    ("botguard.logs._quoteplan", "QuotePlan.read_pieces", "  split on quotes (CSV reader)"),
    ("botguard.logs.text", "TemplateFormat._by_plan", "  typing query"),
    ("botguard.logs.text", "split_typed", "    split, addresses, absolute form"),
    ("botguard.logs.text", "TemplateFormat._finish_parse", "  regexes, malformed, counts"),
    ("botguard.judge.aggregate", "Aggregator.add", "aggregate: a batch"),
    ("botguard.judge.aggregate", "Aggregator.partial_of", "  the batch's partial"),
    ("botguard.judge.aggregate", "Aggregator._agent_frame", "    agents classified"),
    ("botguard.judge.aggregate", "Aggregator._with_units", "    robots.txt units per row"),
    ("botguard.judge.aggregate", "Aggregator._with_agent_units", "    robots.txt units per agent"),
    ("botguard.judge.aggregate", "Aggregator._judge", "    robots.txt verdicts"),
    ("botguard.judge.aggregate", "group_ids", "    rows numbered (agent, pair, client)"),
    ("botguard.judge.aggregate", "Aggregator._pairs", "    (unit, target) pairs: facts, verdicts"),
    ("botguard.judge.aggregate", "Aggregator._verdicts", "      pairs judged"),
    ("botguard.judge.aggregate", "fold_rows", "    client rows + time counts (C)"),
    ("botguard.judge.aggregate", "_client_rows", "    client rows"),
    ("botguard.judge.aggregate", "_gaps", "      Crawl-delay gaps"),
    ("botguard.judge.aggregate", "_disallowed", "    disallowed rows cut"),
    ("botguard.judge.aggregate", "_rule_counts", "    rule counts"),
    ("botguard.judge.aggregate", "_evidence", "    evidence"),
    ("botguard.judge.aggregate", "_time_counts", "    time counts"),
    ("botguard.judge.aggregate", "_path_counts", "    path counts"),
    ("botguard.judge.aggregate", "Aggregator._run", "  the batch into the running fold (C)"),
    ("botguard.judge.aggregate", "Aggregator._numbered", "    rows numbered, pairs judged"),
    ("botguard.judge.aggregate", "Aggregator._booked", "    rows numbered, pairs in the book"),
    ("botguard.judge._pairs", "PairBook.find", "      pairs looked up (C)"),
    ("botguard.judge.aggregate", "Aggregator._learn_pairs", "      new pairs: facts, verdicts"),
    ("botguard.judge._running", "RunningFold.add", "    added: clients, times, rules (C)"),
    ("botguard.judge.aggregate", "_clients_of", "    clients named (disallowed counts)"),
    ("botguard.judge.aggregate", "Aggregator._evidence_of", "    evidence of the fold's candidates"),
    ("botguard.judge.aggregate", "split_shards", "  cut into shards"),
    ("botguard.judge.aggregate", "_Shard.fold", "  shards folded"),
    ("botguard.judge.aggregate", "Aggregator.take", "aggregate: the file's partial"),
    ("botguard.judge._running", "RunningFold.emit", "  the running fold's frames"),
]


def _timed(spent: dict[str, float], module: str, path: str, label: str) -> None:
    """Wrap ``module.path`` so its CPU time adds to ``spent[label]`` (absent names: skipped)."""
    import importlib

    try:
        owner: Any = importlib.import_module(module)
    except ModuleNotFoundError:  # a tree without it
        return
    *outer, name = path.split(".")
    for part in outer:
        owner = getattr(owner, part, None)
    real: Callable[..., Any] | None = getattr(owner, name, None)
    if real is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - start

    setattr(owner, name, wrapper)


def _serial(items: Iterator[Any], depth: int = 1) -> Generator[Any, None, None]:
    """``readers.prefetched`` without its thread: the parse runs when the caller asks."""
    yield from items


def child(log: str, robots_path: str) -> dict[str, float]:
    """The stage table of one run (milliseconds of CPU per label)."""
    import botguard.cli
    import botguard.loading

    tune = (
        getattr(botguard.loading, "tune_libraries", None)
        or getattr(botguard.cli, "tune_libraries", None)
        or botguard.cli.tune_allocator
    )  # where older trees kept it
    tune()  # as the CLI does
    import botguard.logs
    import botguard.logs.readers
    from botguard.catalog import load_catalog
    from botguard.config import load_settings
    from botguard.judge import aggregator
    from botguard.robots.sources import RobotsOption, RobotsSources

    threadless: dict[str, Any] = {"prefetched": _serial}
    vars(botguard.logs.readers).update(threadless)
    vars(botguard.logs).update(threadless)
    spent: dict[str, float] = {}
    for module, path, label in STAGES:
        _timed(spent, module, path, label)
    agg = aggregator(
        load_catalog(), RobotsSources(RobotsOption(default=robots_path), None), load_settings(None)
    )
    start = time.process_time()
    batches = list(botguard.logs.read_file(botguard.logs.FileRead(log)))
    parsed = time.process_time()
    for batch in batches:
        agg.add(batch.requests, batch.stats)
    agg.take()
    spent["PARSE (all of it)"] = parsed - start
    spent["AGGREGATE (all of it)"] = time.process_time() - parsed
    return {label: seconds * 1000 for label, seconds in spent.items()}


def run(tree: Path | None, log: str, robots: str) -> dict[str, float]:
    """One child on this tree (``tree`` None) or on the tree in ``tree``."""
    argv = [sys.executable, *(["-P"] if tree else []), __file__, "--child", log, "--robots", robots]
    env = dict(os.environ, **({"PYTHONPATH": str(tree)} if tree else {}))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"child failed ({tree or 'this tree'}):\n{done.stderr[-2000:]}")
    table: dict[str, float] = json.loads(done.stdout)
    return table


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("log")
    p.add_argument("--robots", required=True)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--baseline", type=Path, help="another botguard tree to time the same way")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.log, args.robots)))
        return 0
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), **trees}
    best: dict[str, dict[str, float]] = {name: {} for name in trees}
    for _ in range(args.repeat):
        for name, tree in trees.items():  # interleaved: load moves both alike
            for label, ms in run(tree, args.log, args.robots).items():
                best[name][label] = min(best[name].get(label, ms), ms)
    labels = ["PARSE (all of it)", "AGGREGATE (all of it)", *(label for _, _, label in STAGES)]
    print(f"CPU ms, best of {args.repeat} ({os.getloadavg()[0]:.1f} load)")
    print(f"{'stage':40}" + "".join(f"{name:>12}" for name in trees))
    for label in labels:
        cells = [best[name].get(label) for name in trees]
        if any(cell is not None for cell in cells):
            print(
                f"{label:40}"
                + "".join(f"{cell:12.0f}" if cell is not None else f"{'-':>12}" for cell in cells)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
