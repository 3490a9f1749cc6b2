#!/usr/bin/env python3
"""The campaign book alone (``CampaignBook.observe``/``note_scores``/``expire``), this tree against a
baseline checkout, on the inputs a gen_day scan hands it (issue 14).

    python bench/bench_campaign_book.py --day LOG [--baseline DIR] [--repeat 3]

Why: the book is a fifth of ``observe()`` on a gen_day day; a change to it moves ``observe()`` by a
few percent, below what bench_observe.py can tell apart on a shared machine. This records the
book's calls once (a ``botguard scan --campaigns`` of ``LOG`` by this tree, in process: each
``observe`` call's columns and the two actor columns it reads, each ``note_scores`` and ``expire``),
then replays them into a fresh book of each tree, in fresh processes, interleaved, best of
``--repeat`` by CPU seconds. Each replay prints a digest of everything the book said and holds
(every probability's and follow flag's bits, the raises, the kept scores, the final ``to_json``, each chain's clients and the raises sorted):
the trees must give the same digest.

The recording is a pickle in a temporary directory this script makes and deletes: only ever
its own output, read back by the replays it starts.
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


def child_record(log: Path, out: Path) -> dict[str, Any]:
    """Scan ``log`` in process and pickle the book's calls (with its rules) to ``out``."""
    import pickle
    from types import SimpleNamespace

    sys.path.insert(0, os.environ["BENCH_ROOT"])
    from botguard.cli import main
    from botguard.model.campaigns import CampaignBook

    calls: list[tuple[Any, ...]] = []
    made: dict[str, Any] = {}
    observe, note, expire = CampaignBook.observe, CampaignBook.note_scores, CampaignBook.expire

    def record_observe(book, call, kind, actors, aid):  # type: ignore[no-untyped-def]
        made["rules"], made["short_of"] = book.rules, book.short_of
        columns = SimpleNamespace(crawled=actors.crawled[aid].copy(), identity=actors.identity[aid].copy())
        calls.append(("observe", call, kind.copy(), columns, list(range(len(aid)))))
        return observe(book, call, kind, actors, aid)

    def record_note(book, ips, uas, t, scores):  # type: ignore[no-untyped-def]
        calls.append(("note", list(ips), list(uas), t.copy(), scores.copy()))
        return note(book, ips, uas, t, scores)

    def record_expire(book, now):  # type: ignore[no-untyped-def]
        calls.append(("expire", now))
        return expire(book, now)

    CampaignBook.observe = record_observe  # type: ignore[method-assign]
    CampaignBook.note_scores = record_note  # type: ignore[method-assign]
    CampaignBook.expire = record_expire  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="bench_campaign_book-") as tmp:
        argv = ["scan", str(log), "--robots", f"{log}.robots.txt", "--config", f"{log}.botguard.yaml",
                "--format", "json", "-o", f"{tmp}/scan.json", "--state", f"{tmp}/state.db", "--no-dns",
                "--campaigns"]  # fmt: skip
        if main(argv) != 0:
            raise SystemExit("the recording scan failed")
    with out.open("wb") as file:
        pickle.dump((made["rules"], made["short_of"], calls), file, protocol=5)
    return {"calls": len(calls)}


def child_replay(recording: Path) -> dict[str, Any]:
    """Replay a recording into a fresh book of the tree on ``BENCH_ROOT``: CPU per method, digest."""
    import hashlib
    import pickle
    import time

    import numpy as np

    sys.path.insert(0, os.environ["BENCH_ROOT"])
    from botguard.model.campaigns import CampaignBook

    with recording.open("rb") as file:
        rules, short_of, calls = pickle.load(file)  # this script's own temporary file
    book = CampaignBook(rules, short_of=short_of)
    digest = hashlib.sha256()
    spent = {"observe": 0.0, "note": 0.0, "expire": 0.0}
    for name, *args in calls:
        c0 = time.process_time()
        if name == "observe":
            p, follows = book.observe(args[0], args[1], args[2], np.asarray(args[3], dtype=np.int64))
            spent[name] += time.process_time() - c0
            digest.update(p.tobytes() + follows.tobytes())
        elif name == "note":
            book.note_scores(*args)
            spent[name] += time.process_time() - c0
        else:
            book.expire(*args)
            spent[name] += time.process_time() - c0
    digest.update(repr(sorted(book.raised_.items())).encode())
    digest.update(repr(sorted(book.scores.items())).encode())
    state = book.to_json()
    for chain in state["chains"]:
        chain[6] = sorted(chain[6])  # a chain's clients are a set: their order is the process's hash seed
    state["raised"].sort()  # ... and so is the order a qualifying chain raises its members in
    digest.update(json.dumps(state, sort_keys=True).encode())
    return {**spent, "cpu": sum(spent.values()), "digest": digest.hexdigest()[:16]}


def run_child(root: Path, argv: list[str]) -> dict[str, Any]:
    env = {**os.environ, "BENCH_ROOT": str(root), "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise SystemExit(f"{argv[:2]} at {root} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--day", type=Path, help="a bench/gen_day.py log (with its .robots.txt and .botguard.yaml)"
    )
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("record", "replay"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "record":
        print(json.dumps(child_record(args.day, args.file)))
        return 0
    if args.child == "replay":
        print(json.dumps(child_replay(args.file)))
        return 0
    if args.day is None:
        parser.error("--day is required")
    print(f"uptime: {os.popen('uptime').read().strip()}")
    roots = {"this": BENCH.parent} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory(prefix="bench_campaign_book-") as tmp:
        recording = Path(tmp) / "calls.pickle"
        made = run_child(
            BENCH.parent, ["--child", "record", "--day", str(args.day), "--file", str(recording)]
        )
        print(f"recorded {made['calls']} calls of the book", flush=True)
        best: dict[str, dict[str, Any]] = {}
        digests: dict[str, set[str]] = {name: set() for name in roots}
        for rep in range(args.repeat):
            for name, root in roots.items():
                got = run_child(root, ["--child", "replay", "--file", str(recording)])
                print(
                    f"  {name} #{rep}: {json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in got.items()})}",
                    flush=True,
                )
                digests[name].add(got["digest"])
                if name not in best or got["cpu"] < best[name]["cpu"]:
                    best[name] = got
    print(f"uptime: {os.popen('uptime').read().strip()}")
    for name, b in best.items():
        print(
            f"{name:8}: {b['cpu']:.3f} s CPU (observe {b['observe']:.3f}, note_scores {b['note']:.3f}, expire {b['expire']:.3f}), best of {args.repeat}"
        )
    if "baseline" in best:
        print(f"speed-up (baseline CPU / this CPU): {best['baseline']['cpu'] / best['this']['cpu']:.2f}x; "
              f"digests equal: {len(digests['this'] | digests['baseline']) == 1}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
