#!/usr/bin/env python3
"""Measure the online model (botguard.model) on generated traffic, against a baseline in the same run.

    python bench/bench_model.py [--lines 200000] [--seed 7] [--batch 1000] [--repeat 3] [--json]

Why: issue 6 sets targets for the model core (training >= 150k events/s and scoring >= 300k
events/s on one core, prequential AUC >= 0.98 on generated traffic with a crawler family that
appears mid-stream, memory that plateaus with expiry). Machines differ, so each figure is printed
next to a baseline measured here and now: a per-event, pure-Python dict LR with the same Adagrad
rule (what a straightforward implementation does; River's LogisticRegression is of that kind).

Traffic: bench/gen_logs.py writes a seeded combined log and its truth sidecar; each line becomes an
event (ip, user agent, path, method, status, plus per-actor rolling behaviour: rate, asset ratio,
robots.txt fetched) and a label from the truth (1 = any non-human, non-good-bot class). The
``disguised_scraper`` class (rotating IPs, browser-like UAs) is removed from the first half of the
stream, so it is a family no example has shown before it appears. Labels here are the simulator's
truth (the weak-label joiner is a later step), so the AUC is an upper bound on what weak labels give.
Events are featurized once up front; featurization speed is reported separately.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from botguard.model.features import FeatureExtractor, is_asset  # noqa: E402
from botguard.model.learner import OnlineLR  # noqa: E402
from botguard.model.records import LearnerConfig, SlotPolicy  # noqa: E402
from botguard.model.table import ParamTable  # noqa: E402

LINE = re.compile(r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"')
NEGATIVE_CLASSES = frozenset({"human", "search_bot", "ai_compliant", "seo_bot"})
NOVEL = "disguised_scraper"
HOUR = 3600.0
#: Admission and expiry for the memory comparison (stream time: the generated log spans 3 days).
POLICIES = {
    "ip24": SlotPolicy(admit_after=3, ttl=6 * HOUR),
    "ip16": SlotPolicy(admit_after=2, ttl=24 * HOUR),
    "ip6_64": SlotPolicy(admit_after=3, ttl=6 * HOUR),
    "ip6_48": SlotPolicy(admit_after=2, ttl=24 * HOUR),
    "path_tpl": SlotPolicy(admit_after=2, ttl=24 * HOUR),
    "ua_tok": SlotPolicy(admit_after=2, ttl=24 * HOUR),
    "ua_fam_x_asn": SlotPolicy(admit_after=2, ttl=12 * HOUR),
}


@dataclass(frozen=True, slots=True)
class Stream:
    """Featurized events in time order with labels, timestamps and the novel family's mask."""

    xs: list[dict[str, float]]
    ys: np.ndarray
    ts: np.ndarray
    novel: np.ndarray
    featurize_rate: float


def generate(lines: int, seed: int, workdir: Path) -> tuple[Path, dict]:
    """Run gen_logs.py; return the log path and its truth sidecar."""
    out = workdir / "model.log"
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "gen_logs.py"),
            "--lines",
            str(lines),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out, json.loads(Path(f"{out}.truth.json").read_text())


def build_stream(log: Path, truth: dict) -> Stream:
    """Parse, join per-actor behaviour, label from truth, drop the novel family's first half, featurize."""
    classes = {(c["ip"], c["user_agent"]): c["class"] for c in truth["clients"]}
    events, labels, stamps, novel = [], [], [], []
    actors: dict[tuple[str, str], list[float]] = {}  # [first_ts, requests, assets, robots_fetched]
    parsed = [m.groups() for line in log.open(encoding="utf-8", errors="replace") if (m := LINE.match(line))]
    half = len(parsed) // 2
    stamp_memo: dict[str, float] = {}
    for i, (ip, when, method, path, status, ua) in enumerate(parsed):
        cls = classes.get((ip, ua), "human")
        if cls == NOVEL and i < half:
            continue
        ts = stamp_memo.get(when)
        if ts is None:
            ts = stamp_memo[when] = datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").timestamp()
        state = actors.setdefault((ip, ua), [ts, 0.0, 0.0, 0.0])
        state[1] += 1
        state[2] += is_asset(path)
        state[3] = max(state[3], float(path.startswith("/robots.txt")))
        minutes = max(1.0, (ts - state[0]) / 60.0)
        events.append(
            {
                "ip": ip,
                "user_agent": ua,
                "path": path,
                "method": method,
                "status": status,
                "robots_fetched": bool(state[3]),
                "rate": state[1] / minutes,
                "asset_ratio": state[2] / state[1],
            }
        )
        labels.append(cls not in NEGATIVE_CLASSES)
        stamps.append(ts)
        novel.append(cls == NOVEL)
    fx = FeatureExtractor()
    start = time.perf_counter()
    xs = [fx.featurize(e) for e in events]
    rate = len(xs) / (time.perf_counter() - start)
    return Stream(xs, np.array(labels), np.array(stamps) - stamps[0], np.array(novel), rate)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties at average rank."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    pos = y.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (
        float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)) if n_pos and n_neg else math.nan
    )


def prequential(
    model: OnlineLR, s: Stream, batch: int, sweep_every: int = 0, checkpoints: Sequence[float] = ()
) -> tuple[np.ndarray, float, list[int]]:
    """Score-then-learn over the stream in micro-batches; return scores, events/s and rows at checkpoints."""
    out = np.empty(len(s.xs))
    marks = [int(c * len(s.xs)) for c in checkpoints]
    rows_at: list[int] = []
    start = time.perf_counter()
    for k, lo in enumerate(range(0, len(s.xs), batch)):
        hi = min(lo + batch, len(s.xs))
        now = float(s.ts[hi - 1])
        out[lo:hi] = model.learn_many(s.xs[lo:hi], s.ys[lo:hi], now=now)
        if sweep_every and k % sweep_every == 0:
            model.expire(now)
        rows_at.extend(len(model.table) for m in marks if lo < m <= hi)
    return out, len(s.xs) / (time.perf_counter() - start), rows_at


def score_rate(model: OnlineLR, xs: list[dict[str, float]], batch: int) -> float:
    """Score-only throughput of a trained model (the scorer's path: lookups, no admission)."""
    start = time.perf_counter()
    for lo in range(0, len(xs), batch):
        model.predict_proba_many(xs[lo : lo + batch])
    return len(xs) / (time.perf_counter() - start)


def baseline(s: Stream, lr: float = 0.1, eps: float = 1e-6) -> tuple[np.ndarray, float]:
    """Per-event pure-Python dict LR with per-coordinate Adagrad: the comparison anchor."""
    w: dict[str, float] = {}
    n: dict[str, float] = {}
    out = np.empty(len(s.xs))
    start = time.perf_counter()
    for i, (x, y) in enumerate(zip(s.xs, s.ys.tolist())):
        z = w.get("bias=1", 0.0) + sum(w.get(k, 0.0) * v for k, v in x.items())
        p = 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, z))))
        out[i] = p
        err = p - y
        for k, v in (*x.items(), ("bias=1", 1.0)):
            g = err * v
            acc = n[k] = n.get(k, 0.0) + g * g
            w[k] = w.get(k, 0.0) - lr * g / (math.sqrt(acc) + eps)
    return out, len(s.xs) / (time.perf_counter() - start)


def novel_detection(s: Stream, p: np.ndarray, window: int = 50, tau: float = 0.5) -> int | None:
    """Novel-family requests until the median of its last ``window`` prequential scores exceeds tau."""
    fam = p[s.novel]
    for i in range(window, len(fam) + 1):
        if np.median(fam[i - window : i]) > tau:
            return i
    return None


def run(lines: int, seed: int, batch: int, repeat: int = 3) -> dict[str, object]:
    """Every measurement of the module docstring; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        log, truth = generate(lines, seed, Path(tmp))
        s = build_stream(log, truth)
    warm = len(s.xs) // 10
    after = np.arange(len(s.xs)) >= int(np.argmax(s.novel)) if s.novel.any() else np.zeros(len(s.xs), bool)
    runs = [prequential(model := OnlineLR(), s, batch) for _ in range(repeat)]
    p, train_rate = runs[0][0], max(r[1] for r in runs)  # best of N: the machine is shared
    figures: dict[str, object] = {
        "events": len(s.xs),
        "positives": float(s.ys.mean()),
        "novel_events": int(s.novel.sum()),
        "featurize_ev_s": s.featurize_rate,
        "train_ev_s": train_rate,
        "score_ev_s": max(score_rate(model, s.xs, batch) for _ in range(repeat)),
        "auc": auc(s.ys[warm:], p[warm:]),
        "auc_after_novel": auc(s.ys[after], p[after]),
        "novel_requests_to_detect": novel_detection(s, p),
        "human_fp_rate": float((p[warm:][~s.ys[warm:]] > 0.5).mean()),
    }
    figures.update(persistence(model))
    base_runs = [baseline(s) for _ in range(repeat)]
    base_p, base_rate = base_runs[0][0], max(r[1] for r in base_runs)
    figures.update(baseline_ev_s=base_rate, baseline_auc=auc(s.ys[warm:], base_p[warm:]))
    figures["memory"] = memory(s, batch)
    figures["ftrl_auc"] = auc(
        s.ys[warm:], prequential(OnlineLR(LearnerConfig(optimizer="ftrl")), s, batch)[0][warm:]
    )
    return figures


def persistence(model: OnlineLR) -> dict[str, float]:
    """Milliseconds to take a full delta (every row dirty after training), snapshot and restore."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        delta = model.table.take_delta()
        t_delta = time.perf_counter() - start
        model.save(Path(tmp) / "m.npz")
        t_save = time.perf_counter() - start - t_delta
        OnlineLR().load(Path(tmp) / "m.npz")
        t_load = time.perf_counter() - start - t_delta - t_save
    return {
        "delta_rows": len(delta.keys),
        "delta_ms": t_delta * 1e3,
        "save_ms": t_save * 1e3,
        "load_ms": t_load * 1e3,
    }


def memory(s: Stream, batch: int) -> dict[str, dict[str, object]]:
    """Live rows (at 25/50/75/100% of the stream), table bytes and AUC with and without admission/TTL."""
    configs: dict[str, Callable[[], ParamTable]] = {
        "plain": ParamTable,
        "admission": lambda: ParamTable(
            policies={k: SlotPolicy(admit_after=v.admit_after) for k, v in POLICIES.items()}
        ),
        "ttl": lambda: ParamTable(policies={k: SlotPolicy(ttl=v.ttl) for k, v in POLICIES.items()}),
        "admission+ttl": lambda: ParamTable(policies=POLICIES),
    }
    warm = len(s.xs) // 10
    out = {}
    for name, make in configs.items():
        model = OnlineLR(table=make())
        p, rate, rows_at = prequential(model, s, batch, sweep_every=20, checkpoints=(0.25, 0.5, 0.75, 1.0))
        out[name] = {
            "rows": rows_at,
            "bytes": model.table.nbytes(),
            "auc": auc(s.ys[warm:], p[warm:]),
            "train_ev_s": rate,
        }
    return out


def report(f: dict) -> str:
    """Human-readable figures with ratios and the issue's targets."""
    lines = [
        f"events {f['events']:,} (positives {f['positives']:.1%}; novel family {f['novel_events']:,} events, "
        "second half only)",
        f"featurize      {f['featurize_ev_s']:>11,.0f} ev/s",
        f"train (preq.)  {f['train_ev_s']:>11,.0f} ev/s   {f['train_ev_s'] / f['baseline_ev_s']:.1f}x baseline"
        f"   target >= 150,000: {'ok' if f['train_ev_s'] >= 150_000 else 'MISSED'}",
        f"score          {f['score_ev_s']:>11,.0f} ev/s   {f['score_ev_s'] / f['baseline_ev_s']:.1f}x baseline"
        f"   target >= 300,000: {'ok' if f['score_ev_s'] >= 300_000 else 'MISSED'}",
        f"baseline (pure-Python per-event Adagrad LR) {f['baseline_ev_s']:,.0f} ev/s, AUC {f['baseline_auc']:.4f}",
        f"prequential AUC {f['auc']:.4f} (after the first 10%)   target >= 0.98: {'ok' if f['auc'] >= 0.98 else 'MISSED'}",
        f"AUC from the novel family's arrival {f['auc_after_novel']:.4f}; its requests until median score > 0.5: "
        f"{f['novel_requests_to_detect']}",
        f"negatives scored > 0.5: {f['human_fp_rate']:.3%}   FTRL AUC {f['ftrl_auc']:.4f}",
        f"delta of {f['delta_rows']:,} dirty rows {f['delta_ms']:.1f} ms; atomic snapshot {f['save_ms']:.1f} ms; "
        f"restore {f['load_ms']:.1f} ms",
        "memory (live rows at 25/50/75/100% of the stream; table bytes; AUC; train ev/s):",
    ]
    plain = f["memory"]["plain"]["rows"][-1]
    for name, m in f["memory"].items():
        lines.append(
            f"  {name:<14} rows {m['rows']}  {m['bytes'] / 2**20:6.1f} MiB  AUC {m['auc']:.4f}  "
            f"{m['train_ev_s']:,.0f} ev/s  rows vs plain {m['rows'][-1] / plain:.0%}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the best counts")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    figures = run(args.lines, args.seed, args.batch, args.repeat)
    print(json.dumps(figures, indent=1) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
