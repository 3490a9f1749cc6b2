#!/usr/bin/env python3
"""Evaluate the online model end to end on a generated stream with a novel crawler family (issue 6).

    python bench/bench_model_stream.py [--events 200000] [--seed 7] [--variant novel|chrome] [--memory-days 28] [--json]

What it prints (protocol: ../shared/notes/online-model.md §3), all against the simulator's truth
(bench/gen_stream.py), never against the weak labels the model trains on:

- prequential AUC: each request's score comes from the scorer *before* anything learned from
  that request (score first, then learn), over the whole stream and its second half;
- the novel family (unknown to every list, appears at one third of the stream): its requests and
  stream seconds until its clients score above the threshold (the median of its last 20 requests)
  and until a rule candidate covering it is proposed (target <= 500 family requests);
- false positives: share of human clients and requests flagged, verified good-bot requests flagged
  (target 0), and rule candidates whose match covers any human or good-bot request (target 0);
- memory: live rows of the stream trainer's table, and a separate churn scenario
  (``--memory-days``, default 28: four sparse weeks of rotating scraper /24s, one-off scanners from
  random addresses with random tool names, fresh human IPv4 addresses and IPv6 /64s every day)
  replayed into tables with neither, admission only, expiry only and both: live rows per day,
  growth per day after day 2 and its largest value over the last week (plateau: < 5%/day), and
  the reduction of expiry only and of both vs neither (target >= 40%; TTLs are 3-30 days, so
  expiry alone needs weeks to act);
- snapshot: seconds and bytes of one snapshot of the final state, seconds to restore it;
- throughput on one core, each stage timed on its own: featurization, scoring (scorer, batches of
  1024), prequential training (learn_many on labelled batches), and the whole observe() loop
  (actor state, weak labels, signature stats included).
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_model import auc as rank_sum_auc  # noqa: E402
from gen_stream import HONEYPOT, ROBOTS_TXT, ChurnGenerator, generate  # noqa: E402

from botguard.config import ModelSettings, Policy, Settings  # noqa: E402
from botguard.identity.asn import RangeTableAsn  # noqa: E402
from botguard.logs.records import REQUEST_SCHEMA  # noqa: E402
from botguard.model.features import FeatureExtractor  # noqa: E402
from botguard.model.learner import OnlineLR  # noqa: E402
from botguard.model.records import SlotPolicy  # noqa: E402
from botguard.model.stream import StreamLearner, StreamSettings  # noqa: E402
from botguard.model.table import ParamTable  # noqa: E402
from botguard.robots import RobotsTxt  # noqa: E402

GOOD = ("googlebot", "bingbot")
CHUNK = 4096  # rows per observe() call, as `botguard watch` hands them over


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``scores`` against ``labels`` (bench_model.auc, in this bench's argument order)."""
    return rank_sum_auc(labels, scores)


def bench_settings(micro_batch_seconds: float | None = None) -> Settings:
    """Defaults plus what a site would configure: a honeypot, scanners blocked by category (and
    ``model.micro_batch_seconds`` when given)."""
    model = (
        ModelSettings()
        if micro_batch_seconds is None
        else ModelSettings(micro_batch_seconds=micro_batch_seconds)
    )
    return Settings(policy=Policy(block_categories=("scanner",)), honeypots=(HONEYPOT,), model=model)


def run_stream(frame: pl.DataFrame, settings: Settings) -> dict:
    robots = RobotsTxt.parse(ROBOTS_TXT)
    learner = StreamLearner(settings, robots=lambda host: robots, asn_db=RangeTableAsn())
    requests = frame.select(list(REQUEST_SCHEMA))
    scores = np.empty(frame.height)
    seen: dict[
        str, tuple[float, int]
    ] = {}  # candidate signature -> (proposed_at, row index when first listed)
    elapsed = cpu = 0.0
    for start in range(0, frame.height, CHUNK):
        part = requests.slice(start, CHUNK)
        t0, c0 = time.perf_counter(), time.process_time()
        scores[start : start + part.height] = learner.observe(part).to_numpy()
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        for cand in learner.candidates():  # as `botguard watch` polls them (not timed)
            seen.setdefault(cand.signature, cand)
    return {"learner": learner, "scores": scores, "seconds": elapsed, "cpu": cpu, "seen": seen}


def family_report(frame: pl.DataFrame, scores: np.ndarray, threshold: float, cands: list) -> dict:
    """Requests and stream seconds until the novel family is flagged and until a candidate covers it."""
    novel = frame.with_row_index("row").filter(pl.col("cls") == "novel")
    rows = novel.get_column("row").to_numpy()
    t = novel.get_column("time").dt.epoch("us").to_numpy() / 1e6
    s = scores[rows]
    first_t = float(t[0])
    flagged_at = None
    for k in range(20, len(s) + 1):
        if np.median(s[k - 20 : k]) > threshold:
            flagged_at = k
            break
    covering = sorted((c for c in cands if _covers(c, novel)), key=lambda c: c.proposed_at)
    cand_at = covering[0].proposed_at if covering else None
    return {
        "family_requests": len(s),
        "flagged_after_requests": flagged_at,
        "flagged_after_seconds": round(float(t[flagged_at - 1] - first_t), 1) if flagged_at else None,
        "share_flagged_after": round(float((s[flagged_at:] > threshold).mean()), 4) if flagged_at else None,
        "candidate_after_requests": int((t <= cand_at).sum()) if cand_at is not None else None,
        "candidate_after_seconds": round(cand_at - first_t, 1) if cand_at is not None else None,
        "first_candidate": (
            covering[0].signature,
            covering[0].requests_to_candidate,
            covering[0].explanation[:3],
        )
        if covering
        else None,
        "candidates_covering": sorted(c.signature for c in covering),
    }


def with_asn(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame plus each request's AS number (one bulk lookup), for checking ASN candidates."""
    ips = frame.get_column("ip").unique().to_list()
    found = RangeTableAsn().lookup_many(ips)
    asns = pl.DataFrame(
        {"ip": ips, "asn": [info.asn if info is not None else None for info in map(found.get, ips)]},
        schema={"ip": pl.String, "asn": pl.Int64},
    )
    return frame.join(asns, on="ip", how="left", maintain_order="left")


def _covers(cand, frame: pl.DataFrame) -> bool:
    """Whether a candidate's match would hit any request of ``frame``."""
    if cand.match_kind == "ua_pattern":
        return bool(
            frame.get_column("user_agent")
            .str.to_lowercase()
            .str.contains(cand.match_value, literal=True)
            .any()
        )
    ips = frame.get_column("ip").unique().to_list()
    if cand.match_kind == "cidr":
        net = ipaddress.ip_network(cand.match_value)
        return any(
            ipaddress.ip_address(ip) in net for ip in ips if ipaddress.ip_address(ip).version == net.version
        )
    return bool((frame.get_column("asn") == int(cand.match_value)).any())


def false_positives(
    frame: pl.DataFrame, scores: np.ndarray, threshold: float, cands: list, warmup: float = 0.0
) -> dict:
    """Flag rates of people and verified search engines (after ``warmup`` seconds of stream), and
    every candidate ever proposed whose match covers any of their requests (whole stream)."""
    flagged = pl.Series("flagged", scores > threshold)
    t = frame.get_column("time").dt.epoch("us") / 1e6
    scored = frame.select("cls", "client").with_columns(flagged).filter(t >= t.min() + warmup)
    humans = scored.filter(pl.col("cls") == "human")
    per_client = humans.group_by("client").agg(
        pl.col("flagged").mean().alias("share"), pl.col("flagged").any().alias("any")
    )
    good = scored.filter(pl.col("cls").is_in(GOOD))
    human_rows = frame.filter(pl.col("cls") == "human")
    good_rows = frame.filter(pl.col("cls").is_in(GOOD))
    return {
        "human_requests_flagged": round(float(humans.get_column("flagged").mean()), 5),
        "human_clients_flagged_majority": round(float((per_client.get_column("share") > 0.5).mean()), 5),
        "human_clients_any_request_flagged": round(float(per_client.get_column("any").mean()), 5),
        "good_bot_requests_flagged": int(good.get_column("flagged").sum()),
        "candidates_covering_humans": sorted(c.signature for c in cands if _covers(c, human_rows)),
        "candidates_covering_good_bots": sorted(c.signature for c in cands if _covers(c, good_rows)),
    }


def memory_days(days: int, stream: StreamSettings, seed: int = 7, per_day: int = 15_000) -> dict:
    """Live rows at the end of each day of a churning week (gen_stream.ChurnGenerator), four ways.

    The same featurized examples (all trained, labels = truth) go into fresh tables with neither
    admission nor expiry, admission only, expiry only, and both (the stream's slot policies), in
    micro-batches of 256 with the client as ``who`` (admission counts distinct clients), an
    expiry sweep per batch and the sketch aged every stream hour, as the stream does.
    """
    fx = FeatureExtractor()
    batches: list[tuple[int, list[dict[str, float]], list[bool], list[int], float]] = []
    for day, events in enumerate(ChurnGenerator(seed, per_day).days(days)):
        for start in range(0, len(events), 256):
            part = events[start : start + 256]
            xs = [
                fx.featurize(
                    {
                        "ip": e.ip,
                        "user_agent": e.ua,
                        "path": e.path,
                        "method": "GET",
                        "status": e.status,
                        "asn": e.asn,
                        "hosting": e.hosting,
                        "robots_fetched": False,
                        "has_referer": not e.bad,
                    }
                )
                for e in part
            ]
            batches.append((day, xs, [e.bad for e in part], [e.client for e in part], part[-1].t))
    policies = stream.policies
    variants = {
        "neither": {},
        "admission only": {k: SlotPolicy(admit_after=p.admit_after) for k, p in policies.items()},
        "expiry only": {k: SlotPolicy(ttl=p.ttl) for k, p in policies.items()},
        "both": dict(policies),
    }
    rows: dict[str, list[int]] = {}
    for name, variant in variants.items():
        model = OnlineLR(stream.learner, ParamTable(policies=variant))
        per_day, hour = [0] * days, None
        for day, xs, ys, who, now in batches:
            model.learn_many(xs, ys, now=now, who=who)
            model.expire(now)
            if hour is not None and now // 3600 != hour:
                model.table.age()
            hour = now // 3600
            per_day[day] = len(model.table)
        rows[name] = per_day
    both, neither = rows["both"], rows["neither"]
    after2 = [b / a - 1 for a, b in itertools.pairwise(both[1:])][1:] if days >= 3 else []
    return {
        "events": sum(len(xs) for _, xs, _, _, _ in batches),
        "live_rows_per_day": rows,
        "both_growth_per_day_after_day2": [round(g, 4) for g in after2],
        "both_growth_last_week_max": max(after2[-7:]) if after2 else None,
        "both_vs_neither": round(both[-1] / neither[-1] - 1, 4) if neither[-1] else None,
        "expiry_only_vs_neither": round(rows["expiry only"][-1] / neither[-1] - 1, 4)
        if neither[-1]
        else None,
    }


def throughput(frame: pl.DataFrame, learner: StreamLearner) -> dict:
    """Featurize, score and train speeds on one core, each stage timed alone (best of 2: shared machine).

    The learner core only: events are featurized once (timed on its own), then scored by the
    stream's scorer in batches of 1024, and learned prequentially (learn_many: score, then update)
    by a fresh trainer with the stream's slot policies, labels from the simulator's truth.
    """
    events = [
        {
            "ip": ip,
            "user_agent": ua,
            "path": target or "/",
            "method": m,
            "status": st,
            "asn": 24940,
            "hosting": True,
            "robots_fetched": False,
            "rate": 12.0,
            "asset_ratio": 0.0,
            "has_referer": False,
            "invalid_share": 0.0,
        }
        for ip, ua, target, m, st in frame.select(
            "ip", "user_agent", "target", "method", "status"
        ).iter_rows()
    ]
    best_fx = float("inf")
    for _ in range(2):
        fx = FeatureExtractor()
        t0 = time.perf_counter()
        xs = [fx.featurize(e) for e in events]
        best_fx = min(best_fx, time.perf_counter() - t0)
    scorer = learner.scorer
    best_score = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for start in range(0, len(xs), 1024):
            scorer.predict_proba_many(xs[start : start + 1024])
        best_score = min(best_score, time.perf_counter() - t0)
    ys = frame.get_column("bad").to_list()
    best_train = float("inf")
    for _ in range(2):
        model = OnlineLR(learner.stream.learner, ParamTable(policies=learner.stream.policies))
        t0 = time.perf_counter()
        for start in range(0, len(xs), 1024):
            model.learn_many(xs[start : start + 1024], ys[start : start + 1024], now=float(start))
        best_train = min(best_train, time.perf_counter() - t0)
    n = len(xs)
    return {
        "featurize_ev_s": round(n / best_fx),
        "score_ev_s": round(n / best_score),
        "train_ev_s": round(n / best_train),
    }


def snapshot_report(learner: StreamLearner, settings: Settings) -> dict:
    """Seconds and bytes of one snapshot of the stream's final state, and seconds to restore it."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "snap"
        t0 = time.perf_counter()
        learner.snapshot(target)
        took = time.perf_counter() - t0
        sizes = {p.name: p.stat().st_size for p in target.iterdir()}
        t0 = time.perf_counter()
        restored = StreamLearner.restore(target, settings, robots=learner.robots, settings=learner.stream)
        back = time.perf_counter() - t0
    return {
        "seconds": round(took, 3),
        "bytes": sum(sizes.values()),
        "files": sizes,
        "restore_seconds": round(back, 3),
        "actors": len(restored.actors),
        "signatures": len(restored.book),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--variant", choices=("novel", "chrome"), default="novel")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--memory-days", type=int, default=28, help="days of the churn scenario (0: skip)")
    parser.add_argument(
        "--micro-batch-seconds", type=float, help="model.micro_batch_seconds (default: config's)"
    )
    args = parser.parse_args(argv)
    frame = with_asn(generate(args.events, args.seed, args.variant))
    settings = bench_settings(args.micro_batch_seconds)
    run = run_stream(frame, settings)
    learner: StreamLearner = run["learner"]
    scores, threshold = run["scores"], learner.stream.rules.threshold
    truth = frame.get_column("bad").to_numpy()
    half = frame.height // 2
    cands = list(run["seen"].values())  # every candidate ever proposed (first sighting)
    t = frame.get_column("time").dt.epoch("us").to_numpy() / 1e6
    warmup = 0.1 * float(t[-1] - t[0])
    report = {
        "events": frame.height,
        "variant": args.variant,
        "auc": round(auc(scores, truth), 4),
        "auc_second_half": round(auc(scores[half:], truth[half:]), 4),
        "novel_family": family_report(frame, scores, threshold, cands),
        "false_positives": false_positives(frame, scores, threshold, cands),
        f"false_positives_after_{warmup / 60:.0f}min_warmup": false_positives(
            frame, scores, threshold, [], warmup
        ),
        "candidates": [
            (c.signature, c.action, c.requests_to_candidate, round(c.bad_rate_lcb, 3)) for c in cands
        ],
        "observe_ev_s_wall": round(frame.height / run["seconds"]),
        "observe_ev_s_cpu": round(frame.height / run["cpu"]),
        "trained": learner.counters.trained,
        "live_rows": len(learner.trainer.table),
        "snapshot": snapshot_report(learner, settings),
        "throughput": throughput(frame, learner),
    }
    if args.memory_days:
        report["memory"] = memory_days(args.memory_days, learner.stream)
    if args.json:
        print(json.dumps(report, default=str))
    else:
        for key, value in report.items():
            print(f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
