#!/usr/bin/env python3
"""Whether two checkouts' stream learners give the same outputs, bit for bit (issue 14).

    python bench/observe_equal.py --baseline DIR [--day LOG ...] [--old-seeds 11 90210]
                                  [--events 200000] [--chunk 4096] [--keep DIR]

Each workload runs in a fresh process per checkout (this tree and ``--baseline``, e.g. a
``git archive`` copy of main) and its outputs are compared exactly:

- ``day``: a bench/gen_day.py log (with its ``.robots.txt`` and ``.botguard.yaml``) observed by
  the scan's learner (``replay._learner``: watch's, keeping every client's outcome) in calls of
  ``--chunk`` rows, as a watch hands them over;
- ``old``: bench/gen_stream.py's stream (``--events``, each of ``--old-seeds``) observed as
  bench_model_stream.py does (its settings, calls of ``--chunk`` rows).

Compared: every request's score (array-equal: the same float64 bits), the campaign raises, the
rule candidates (after every call, as watch polls them, and at the end), each client's kept
score and the counters. A speed change of ``observe()`` must leave all of them equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def _learner_outputs(learner: Any, polled: list[Any]) -> dict[str, Any]:
    """What a learner's state says outward, as JSON-able values (floats by repr: exact)."""
    raises = sorted((list(k), repr(v)) for k, v in learner.raises().items())
    scores = sorted((list(k), repr(v)) for k, v in learner.campaigns.scores.items())
    return {
        "raises": raises,
        "candidates": [repr(c) for c in learner.candidates()],
        "polled": polled,
        "client_scores": scores,
        "counters": repr(learner.counters),
        "rows": len(learner.trainer.table.index),
        "scorer_rows": len(learner.scorer.table.index),
    }


def _observe_all(learner: Any, frame: Any, chunk: int) -> tuple[Any, list[Any]]:
    import numpy as np

    scores = np.empty(frame.height)
    polled: list[Any] = []
    for start in range(0, frame.height, chunk):
        part = frame.slice(start, chunk)
        scores[start : start + part.height] = learner.observe(part).to_numpy()
        polled.append(sorted(c.signature for c in learner.candidates()))
    return scores, polled


def child_day(log: Path, chunk: int, out: Path) -> None:
    sys.path.insert(0, os.environ["BENCH_ROOT"])
    import numpy as np
    import polars as pl

    from botguard.config import load_settings
    from botguard.logs import read_batches
    from botguard.model.replay import _learner
    from botguard.robots.sources import RobotsSources, parse_robots_option

    settings = load_settings(Path(f"{log}.botguard.yaml"))
    robots = RobotsSources(parse_robots_option((f"{log}.robots.txt",), False))
    frame = pl.concat([b.requests for b in read_batches([str(log)])])
    learner = _learner(settings, robots, None)
    scores, polled = _observe_all(learner, frame, chunk)
    np.save(out.with_suffix(".npy"), scores)
    out.write_text(json.dumps(_learner_outputs(learner, polled)))


def child_old(seed: int, events: int, chunk: int, out: Path) -> None:
    import numpy as np

    sys.path.insert(0, str(BENCH))
    from gen_stream import HONEYPOT, ROBOTS_TXT, generate

    sys.path.insert(0, os.environ["BENCH_ROOT"])
    from botguard.config import Policy, Settings
    from botguard.identity.asn import RangeTableAsn
    from botguard.logs.records import REQUEST_SCHEMA
    from botguard.model.stream import StreamLearner
    from botguard.robots import RobotsTxt

    frame = generate(events, seed, "novel").select(list(REQUEST_SCHEMA))
    settings = Settings(policy=Policy(block_categories=("scanner",)), honeypots=(HONEYPOT,))
    robots = RobotsTxt.parse(ROBOTS_TXT)
    learner = StreamLearner(settings, robots=lambda host: robots, asn_db=RangeTableAsn())
    scores, polled = _observe_all(learner, frame, chunk)
    np.save(out.with_suffix(".npy"), scores)
    out.write_text(json.dumps(_learner_outputs(learner, polled)))


def run(root: Path, argv: list[str], out: Path) -> None:
    env = {**os.environ, "BENCH_ROOT": str(root), "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-P", __file__, *argv, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{argv} at {root} failed: {done.stderr[-3000:]}")


def compare(a: Path, b: Path) -> list[str]:
    """The outputs that differ between two runs (empty: identical)."""
    import numpy as np

    diffs = []
    sa, sb = np.load(a.with_suffix(".npy")), np.load(b.with_suffix(".npy"))
    if sa.shape != sb.shape or sa.tobytes() != sb.tobytes():
        bad = np.flatnonzero(sa != sb) if sa.shape == sb.shape else []
        diffs.append(f"scores ({len(bad)} differ, first {list(bad[:5])})")
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    diffs += [k for k in ja if ja[k] != jb.get(k)]
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--day", type=Path, nargs="*", default=[])
    parser.add_argument("--old-seeds", type=int, nargs="*", default=[11, 90210])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--child", choices=("day", "old"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "day":
        child_day(args.day[0], args.chunk, args.out)
        return 0
    if args.child == "old":
        child_old(args.seed, args.events, args.chunk, args.out)
        return 0
    if args.baseline is None:
        parser.error("--baseline is required")
    keep = args.keep or Path(tempfile.mkdtemp(prefix="observe_equal-"))
    keep.mkdir(parents=True, exist_ok=True)
    works = [(f"day-{log.name}", ["--child", "day", "--day", str(log)]) for log in args.day]
    works += [(f"old-{seed}", ["--child", "old", "--seed", str(seed)]) for seed in args.old_seeds]
    same = True
    for name, argv in works:
        argv += ["--events", str(args.events), "--chunk", str(args.chunk)]
        outs = {}
        for tree, root in (("this", BENCH.parent), ("baseline", args.baseline.resolve())):
            outs[tree] = keep / f"{name}-{tree}.json"
            run(root, argv, outs[tree])
        diffs = compare(outs["this"], outs["baseline"])
        same &= not diffs
        print(f"{name}: {'identical' if not diffs else 'DIFFERENT: ' + ', '.join(diffs)}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
