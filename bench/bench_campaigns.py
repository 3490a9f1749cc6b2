#!/usr/bin/env python3
"""Measure botguard on days of traffic it was never tuned on (bench/gen_day.py), against the truth.

    python bench/bench_campaigns.py                                  # 200k lines, dev and held-out seeds
    python bench/bench_campaigns.py --lines 1000000 --seeds 11 90210 --json figures.json
    python bench/bench_campaigns.py --real ../shared/data/access-logs/elastic-examples.apache_logs.log

Why this script talks to botguard only through its command line (``scan --format json``, ``watch
--once --format json``, ``candidates list --format json``, ``deploy-rules --dry-run``): it is the
yardstick for changes to botguard's internals, so it must not move with them. For each seed it
generates the day (or reuses it from bench/out/), runs the commands as child processes on a fresh
state database, joins the verdicts, raises and candidates with the generator's truth per client,
and prints one table per seed set (dev seeds, then held-out seeds: tune only on the first).

Figures (targets from the project's issues in brackets):
- late campaign clients caught: of the clients of a campaign (every unwanted client belongs to
  one) that arrive after their campaign's first 50 requests, the share whose verdict is ``block``
  or ``challenge`` (a verdict that does not exist yet simply never occurs) [>= 90%];
- people blocked [0], challenged [<= 0.5%], monitored; welcome crawlers and services touched
  (blocked, challenged, raised or covered by a candidate) [0];
- clients the scan's model raised (a ``model: ...`` reason), by truth;
- candidates of ``watch``: how many, how many would match a person's or welcome client's request of
  the day (unsafe), and the requests each campaign sent before the first safe candidate that
  matches one of its clients;
- AUC of the scan's ``model_score`` against the truth (unwanted = positive), over all clients and
  over browser-agent clients only;
- people who never sent a referer, never a page asset, or neither (two or more requests;
  combined-format days only): a direct visit, a cached page. Challenged, blocked or raised: the
  circular false positive a model that learns "no referer" or "no assets" risks. Campaign clients
  that sent neither (what most disguised scrapers send): caught, and their AUC against such people.
With ``--real LOG...`` there is no truth: it lists every client that ends blocked or challenged,
raised, or covered by a candidate, for a person to check by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import math
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gen_day  # noqa: E402

CAUGHT = frozenset({"block", "challenge"})
LATE_AFTER = 50  # a campaign's requests before a client counts as arriving "late"
KINDS = ("proxy_campaign", "hosting_rotator", "headless_fleet", "fake_googlebot", "bad_bot", "slow_walker")


# ---- running botguard ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outputs:
    """What botguard said about one log: the scan document, the candidates, seconds per command."""

    scan: dict[str, Any]
    candidates: list[dict[str, Any]]
    seconds: dict[str, float]
    preview: str = ""


def run_botguard(
    cmd: list[str], log: Path, workdir: Path, robots: Path | None = None, config: Path | None = None,
    dns: bool = False, preview: bool = False, campaigns: bool = True,
) -> Outputs:  # fmt: skip
    """scan, then watch --once and candidates list on the same fresh state database."""
    state = workdir / "state.db"
    site = [*(["--robots", str(robots)] if robots else []), *(["--config", str(config)] if config else [])]
    seconds: dict[str, float] = {}
    scan_out = workdir / "scan.json"
    _run(cmd + ["scan", str(log), *site, "--format", "json", "-o", str(scan_out), "--state", str(state)]
         + ([] if dns else ["--no-dns"]) + [_scan_mode(campaigns)], seconds, "scan")  # fmt: skip
    watched = _run(
        cmd + ["watch", str(log), *site, "--once", "--format", "json", "--state", str(state)],
        seconds,
        "watch",
    )
    listed = _run(cmd + ["candidates", "list", "--format", "json", "--state", str(state)], seconds, "list")
    candidates = merge_candidates(watched.stdout, listed.stdout)
    text = ""
    if preview and candidates:
        _run(
            cmd + ["candidates", "approve", *(c["signature"] for c in candidates), "--state", str(state)],
            seconds,
            "approve",
        )
        nginx = workdir / "nginx"
        nginx.mkdir(exist_ok=True)
        done = _run(cmd + ["deploy-rules", "--dry-run", "--nginx-dir", str(nginx), "--state", str(state),
                           *(["--config", str(config)] if config else [])], seconds, "preview")  # fmt: skip
        text = "\n".join(line for line in done.stdout.splitlines() if not line.startswith(("+", "-", "@")))
    return Outputs(json.loads(scan_out.read_text()), candidates, seconds, text)


def _run(argv: list[str], seconds: dict[str, float], name: str) -> subprocess.CompletedProcess[str]:
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds[name] = round(time.perf_counter() - began, 2)
    if done.returncode != 0:
        raise CommandFailed(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


class CommandFailed(Exception):
    """A botguard command exited non-zero (its stderr tail is the message)."""


def merge_candidates(ndjson: str, listed: str) -> list[dict[str, Any]]:
    """The stored candidates (``candidates list``), with what watch printed for any it did not
    list; ``proposed_at`` as epoch seconds whichever form it came in."""
    by_sig: dict[str, dict[str, Any]] = {}
    for line in ndjson.splitlines():
        if line.strip():
            row = json.loads(line)
            by_sig[row["signature"]] = row
    for row in json.loads(listed or '{"candidates": []}')["candidates"]:
        by_sig[row["signature"]] = {**by_sig.get(row["signature"], {}), **row}
    return [{**row, "proposed_at": epoch(row.get("proposed_at"))} for row in by_sig.values()]


def epoch(value: object) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string."""
    if value is None or isinstance(value, int | float):
        return value  # type: ignore[return-value]
    return datetime.fromisoformat(str(value)).timestamp()


# ---- joining and matching -----------------------------------------------------------------------


def is_raised(client: dict[str, Any]) -> bool:
    """The scan's model raised this client (its reason starts ``model:``)."""
    return any(str(r).startswith("model:") for r in client.get("reasons") or ())


def matches(candidate: dict[str, Any], client: dict[str, Any]) -> bool:
    """Would the candidate's rule match this client's requests? (``ua_pattern``: case-insensitive
    substring of the agent; ``cidr``: the address is in the network; ``asn``: its AS number.)"""
    kind, value = candidate.get("match_kind"), str(candidate.get("match_value"))
    if kind == "ua_pattern":
        return value.lower() in (client.get("user_agent") or "").lower()  # no agent: nothing to match
    if kind == "cidr":
        try:
            return ipaddress.ip_address(client["ip"]) in ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
    if kind == "asn":
        return client.get("asn") is not None and str(client["asn"]) == value.removeprefix("AS")
    return False


def join(truth: dict[str, Any], scan: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each truth client with the scan's row for the same (ip, user agent), or None."""
    rows = {(c["ip"], c["user_agent"]): c for c in scan.get("clients", [])}
    return [(t, rows.get((t["ip"], t["user_agent"]))) for t in truth["clients"]]


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Rank-sum AUC (bench_model.py's, imported when needed: it loads botguard's model)."""
    import numpy as np
    from bench_model import auc as rank_auc

    return rank_auc(np.asarray(labels), np.asarray(scores, dtype=float)) if labels else math.nan


# ---- the figures --------------------------------------------------------------------------------


def share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


#: A combined-format line: address, path, referer, agent.
_LINE = re.compile(r'^(\S+) \S+ \S+ \[[^\]]*\] "\S+ (\S+)[^"]*" \d{3} \S+ "([^"]*)" "([^"]*)"')
_ASSET = re.compile(r"\.(?:css|js|png|jpe?g|gif|svg|ico|woff2?|webp|map)$", re.IGNORECASE)


def undressed(log: Path) -> dict[tuple[str, str], tuple[bool, bool]]:
    """(address, agent) -> (never sent a referer, never requested a page asset), for the clients
    that made two or more requests (read from a combined-format log; another format gives none)."""
    seen: Counter[tuple[str, str]] = Counter()
    referer: set[tuple[str, str]] = set()
    asset: set[tuple[str, str]] = set()
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if m := _LINE.match(line):
                ip, path, ref, agent = m.groups()
                seen[(ip, agent)] += 1
                if ref not in ("-", ""):
                    referer.add((ip, agent))
                if _ASSET.search(path.split("?", 1)[0]):
                    asset.add((ip, agent))
    return {key: (key not in referer, key not in asset) for key, n in seen.items() if n >= 2}


def figures(
    truth: dict[str, Any], out: Outputs, bare: dict[tuple[str, str], tuple[bool, bool]] | None = None
) -> dict[str, Any]:
    """Every figure of one seed, from the truth and botguard's outputs (``bare``: what each client
    never sent, :func:`undressed`)."""
    joined = join(truth, out.scan)
    verdict = {id(t): (s or {}).get("verdict", "missing") for t, s in joined}
    raised = {id(t) for t, s in joined if s and is_raised(s)}
    fig: dict[str, Any] = {
        "lines": truth["lines"],
        "clients": len(joined),
        "unjoined": sum(s is None for _, s in joined),
        "campaigns": len(truth["campaigns"]),
    }
    fig.update(_campaign_figures(joined, verdict))
    fig.update(_raise_figures(truth, joined, verdict, raised))
    fig.update(_people_figures(joined, verdict))
    fig.update(_candidate_figures(truth, out.candidates))
    fig.update(_welcome_figures(joined, verdict, raised, out.candidates))
    by_truth = Counter(_side(t) for t, _ in joined if id(t) in raised)
    fig["raised"] = len(raised)
    fig.update({f"raised_{k}": by_truth.get(k, 0) for k in ("unwanted", "person", "welcome")})
    fig.update(_auc_figures(joined))
    fig.update(_bare_figures(joined, verdict, raised, bare or {}))
    fig["seconds"] = out.seconds
    return fig


def _side(t: dict[str, Any]) -> str:
    return "unwanted" if not t["wanted"] else "person" if t["is_person"] else "welcome"


def _welcome_figures(
    joined: list[tuple[dict, dict | None]], verdict: dict[int, str], raised: set[int], candidates: list[dict]
) -> dict[str, Any]:
    """Welcome crawlers and services: touched = blocked, challenged, raised or under a candidate."""
    welcome = [t for t, _ in joined if _side(t) == "welcome"]
    covered = {id(t) for t in welcome for c in candidates if matches(c, t)}
    return {
        "welcome_clients": len(welcome),
        "welcome_touched": sum(
            verdict[id(t)] in CAUGHT or id(t) in raised or id(t) in covered for t in welcome
        ),
        "welcome_monitor": sum(verdict[id(t)] == "monitor" for t in welcome),
    }


def _auc_figures(joined: list[tuple[dict, dict | None]]) -> dict[str, float]:
    """AUC of model_score, unwanted positive: all clients, and browser-agent clients only."""
    scored = [(int(not t["wanted"]), s["model_score"], t) for t, s in joined
              if s and s.get("model_score") is not None]  # fmt: skip
    browser = [(y, p) for y, p, t in scored if t["agent_kind"] == "browser"]
    return {
        "auc": auc([y for y, _, _ in scored], [p for _, p, _ in scored]),
        "auc_browser": auc([y for y, _ in browser], [p for _, p in browser]),
    }


def _sent(
    bare: dict[tuple[str, str], tuple[bool, bool]],
    t: dict[str, Any],
    no_ref: bool | None,
    no_asset: bool | None,
) -> bool:
    """Whether the client never sent a referer (``no_ref``) and never an asset (``no_asset``); None: either."""
    sent = bare.get((t["ip"], t["user_agent"]))
    return sent is not None and no_ref in (None, sent[0]) and no_asset in (None, sent[1])


def _bare_figures(
    joined: list[tuple[dict, dict | None]],
    verdict: dict[int, str],
    raised: set[int],
    bare: dict[tuple[str, str], tuple[bool, bool]],
) -> dict[str, Any]:
    """People who never sent a referer, never an asset, or neither: challenged, blocked or raised;
    the campaign clients that sent neither: caught, and their AUC against such people."""
    fig: dict[str, Any] = {}
    groups = {"no_referer": (True, None), "no_asset": (None, True), "bare": (True, True)}
    for name, (no_ref, no_asset) in groups.items():
        people = [t for t, _ in joined if t["is_person"] and _sent(bare, t, no_ref, no_asset)]
        fig[f"{name}_people"] = len(people)
        for end in ("challenge", "block"):
            fig[f"{name}_people_{end}"] = sum(verdict[id(t)] == end for t in people)
        fig[f"{name}_people_raised"] = sum(id(t) in raised for t in people)
    both = [(t, s) for t, s in joined if bare.get((t["ip"], t["user_agent"])) == (True, True)]
    unwanted = [t for t, _ in both if not t["wanted"]]
    scored = [(int(not t["wanted"]), s["model_score"]) for t, s in both
              if (t["is_person"] or not t["wanted"]) and s and s.get("model_score") is not None]  # fmt: skip
    fig["bare_unwanted"] = len(unwanted)
    fig["bare_unwanted_caught"] = share(sum(verdict[id(t)] in CAUGHT for t in unwanted), len(unwanted))
    fig["auc_bare"] = auc([y for y, _ in scored], [p for _, p in scored])
    return fig


def _campaign_figures(joined: list[tuple[dict, dict | None]], verdict: dict[int, str]) -> dict[str, Any]:
    unwanted = [t for t, _ in joined if not t["wanted"]]
    late = [t for t in unwanted if (t["campaign_requests_before"] or 0) >= LATE_AFTER]
    ends = Counter(verdict[id(t)] for t in late)
    fig: dict[str, Any] = {
        "campaign_clients": len(unwanted),
        "late_clients": len(late),
        "late_caught": share(sum(ends[v] for v in CAUGHT), len(late)),
        **{f"late_{v}": share(ends[v], len(late)) for v in ("block", "challenge", "monitor", "allow")},
        "unwanted_caught": share(sum(verdict[id(t)] in CAUGHT for t in unwanted), len(unwanted)),
        **{f"unwanted_{v}": share(sum(verdict[id(t)] == v for t in unwanted), len(unwanted))
           for v in ("monitor", "allow")},
    }  # fmt: skip
    for kind in KINDS:
        group = [t for t in (unwanted if kind == "slow_walker" else late) if t["class"] == kind]
        fig[f"caught_{kind}"] = share(sum(verdict[id(t)] in CAUGHT for t in group), len(group))
    return fig


def _raise_figures(
    truth: dict[str, Any], joined: list[tuple[dict, dict | None]], verdict: dict[int, str], raised: set[int]
) -> dict[str, Any]:
    """Raised counts as caught (the raise asks for the challenge tier; on a build without the
    ``challenge`` verdict it shows as monitor): late campaign clients caught or raised, people raised,
    and per campaign its requests before the first raised client's last request (an upper bound of
    the requests before its first raise)."""
    unwanted = [t for t, _ in joined if not t["wanted"]]
    late = [t for t in unwanted if (t["campaign_requests_before"] or 0) >= LATE_AFTER]
    people = [t for t, _ in joined if t["is_person"]]
    first: dict[Any, float] = {}
    for t in unwanted:
        if id(t) in raised and t["campaign"] is not None and t.get("last") is not None:
            first[t["campaign"]] = min(first.get(t["campaign"], math.inf), t["last"])
    before = [sum(x < first[c["id"]] for x in c["times"]) for c in truth["campaigns"] if c["id"] in first]
    return {
        "late_caught_or_raised": share(
            sum(verdict[id(t)] in CAUGHT or id(t) in raised for t in late), len(late)
        ),
        "people_raised": share(sum(id(t) in raised for t in people), len(people)),
        "campaigns_raised": len(before),
        "requests_before_raise_median": statistics.median(before) if before else None,
        "requests_before_raise_max": max(before) if before else None,
    }


def _people_figures(joined: list[tuple[dict, dict | None]], verdict: dict[int, str]) -> dict[str, Any]:
    people = [t for t, _ in joined if t["is_person"]]
    ends = Counter(verdict[id(t)] for t in people)
    return {
        "people_clients": len(people),
        **{f"people_{v}": share(ends[v], len(people)) for v in ("block", "challenge", "monitor")},
        "people_blocked": ends["block"],
    }


def _candidate_figures(truth: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    clients = truth["clients"]
    unsafe, covering = [], {}
    for cand in candidates:
        hits = [t for t in clients if matches(cand, t)]
        if any(t["wanted"] for t in hits):
            unsafe.append(cand["signature"])
        else:
            covering[cand["signature"]] = {t["campaign"] for t in hits if t["campaign"]}
    before: list[int] = []
    kinds: Counter[str] = Counter()
    for camp in truth["campaigns"]:
        times = [
            c["proposed_at"] for c in candidates
            if c["signature"] in covering and camp["id"] in covering[c["signature"]] and c["proposed_at"] is not None
        ]  # fmt: skip
        if times:
            first = min(times)
            before.append(sum(t < first for t in camp["times"]))
            kinds[camp["kind"]] += 1
    return {
        "candidates": len(candidates),
        "candidates_unsafe": len(unsafe),
        "unsafe_signatures": unsafe,
        "campaigns_with_safe_candidate": len(before),
        "safe_candidate_campaign_kinds": dict(kinds.most_common()),
        "requests_before_candidate_median": statistics.median(before) if before else None,
        "requests_before_candidate_max": max(before) if before else None,
    }


# ---- tables -------------------------------------------------------------------------------------


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}%"


def num(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


Fig = dict[str, Any]
#: One row per figure (or pair of figures): its label, with the target in brackets, and its cell.
ROWS: tuple[tuple[str, Callable[[Fig], str]], ...] = (
    ("lines", lambda f: f"{f['lines']:,}"),
    ("clients (not in the scan)", lambda f: f"{f['clients']:,} ({f['unjoined']})"),
    ("campaigns / their clients", lambda f: f"{f['campaigns']} / {f['campaign_clients']:,}"),
    ("late campaign clients", lambda f: f"{f['late_clients']:,}"),
    ("  ... blocked or challenged [>= 90%]", lambda f: pct(f["late_caught"])),
    ("  ... block / challenge", lambda f: f"{pct(f['late_block'])} / {pct(f['late_challenge'])}"),
    ("  ... monitor / allow", lambda f: f"{pct(f['late_monitor'])} / {pct(f['late_allow'])}"),
    ("  ... blocked, challenged or raised [>= 90%]", lambda f: pct(f["late_caught_or_raised"])),
    *((f"  ... caught: {k}", lambda f, k=k: pct(f[f"caught_{k}"])) for k in KINDS[:-1]),
    ("slow walkers caught", lambda f: pct(f["caught_slow_walker"])),
    ("all campaign clients: caught / monitor / allow", lambda f: (
        f"{pct(f['unwanted_caught'])} / {pct(f['unwanted_monitor'])} / {pct(f['unwanted_allow'])}")),
    ("people (clients)", lambda f: f"{f['people_clients']:,}"),
    ("  ... blocked [0]", lambda f: str(f["people_blocked"])),
    ("  ... challenged [<= 0.5%]", lambda f: pct(f["people_challenge"], 2)),
    ("  ... monitored", lambda f: pct(f["people_monitor"])),
    ("  ... raised by the model [<= 0.5%]", lambda f: pct(f["people_raised"], 2)),
    ("welcome crawlers/services touched [0]", lambda f: f"{f['welcome_touched']} of {f['welcome_clients']}"),
    ("  ... monitored", lambda f: str(f["welcome_monitor"])),
    ("model raised: unwanted/person/welcome", lambda f: f"{f['raised_unwanted']}/{f['raised_person']}/{f['raised_welcome']}"),
    ("candidates (unsafe)", lambda f: f"{f['candidates']} ({f['candidates_unsafe']})"),
    ("campaigns with a safe candidate", lambda f: str(f["campaigns_with_safe_candidate"])),
    ("  ... of kinds", lambda f: ", ".join(f"{k} {n}" for k, n in f["safe_candidate_campaign_kinds"].items()) or "-"),
    ("  requests before it: median / max", lambda f: (
        f"{f['requests_before_candidate_median']:g} / {f['requests_before_candidate_max']}"
        if f["campaigns_with_safe_candidate"] else "-")),
    ("campaigns raised", lambda f: str(f["campaigns_raised"])),
    ("  requests before the first raise: median / max", lambda f: (
        f"{f['requests_before_raise_median']:g} / {f['requests_before_raise_max']}"
        if f["campaigns_raised"] else "-")),
    ("AUC model_score: all / browser agents", lambda f: f"{num(f['auc'])} / {num(f['auc_browser'])}"),
    *((f"people sending no {what}: n / challenged / blocked / raised", lambda f, g=g: (
        f"{f[g + '_people']:,} / {f[g + '_people_challenge']} / {f[g + '_people_block']} / {f[g + '_people_raised']}"))
      for what, g in (("referer", "no_referer"), ("asset", "no_asset"), ("referer, no asset", "bare"))),
    ("bare campaign clients (no referer, no asset): caught", lambda f: (
        f"{f['bare_unwanted']:,}: {pct(f['bare_unwanted_caught'])}")),
    ("AUC model_score: bare people vs bare campaign clients", lambda f: num(f["auc_bare"])),
    ("seconds: scan / watch", lambda f: f"{f['seconds'].get('scan', 0):.1f} / {f['seconds'].get('watch', 0):.1f}"),
)  # fmt: skip


def table(title: str, runs: list[tuple[int, Fig]]) -> str:
    """One column per seed, one row per figure."""
    head = [title, *(f"seed {s}" for s, _ in runs)]
    body = [[label, *(cell(f) for _, f in runs)] for label, cell in ROWS]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [head, *body]]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


# ---- the generated days -------------------------------------------------------------------------


def day_log(seed: int, lines: int, days: int, out_dir: Path, fmt: str = "combined") -> Path:
    """The generated day for these arguments, made once and reused while the generator is unchanged."""
    sources = sorted(BENCH.glob("_day*.py")) + [BENCH / "gen_day.py"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]
    suffix = "" if fmt == "combined" else f"-{fmt}"
    log = out_dir / f"day-s{seed}-l{lines}-d{days}{suffix}-{digest}.log"
    if not Path(f"{log}.truth.json").exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        gen_day.generate(log, lines, seed, days, fmt)
    return log


def _scan_mode(campaigns: bool) -> str:
    """The scan's flag for its model step: the stream replay (campaign raises, scores) or not."""
    return "--campaigns" if campaigns else "--no-campaigns"


def bench_seed(seed: int, args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    log = day_log(seed, args.lines, args.days, args.out_dir, args.fmt)
    truth = json.loads(Path(f"{log}.truth.json").read_text())
    with tempfile.TemporaryDirectory(prefix="bench_campaigns-") as tmp:
        out = run_botguard(cmd, log, Path(tmp), Path(f"{log}.robots.txt"), Path(f"{log}.botguard.yaml"),
                           args.dns, args.preview, args.campaigns)  # fmt: skip
    fig = figures(truth, out, undressed(log) if args.fmt == "combined" else None)
    if out.preview:
        fig["preview"] = out.preview
    return fig


# ---- real logs ----------------------------------------------------------------------------------


def flagged(scan: dict[str, Any], candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every client botguard would act on: blocked or challenged, raised, or under a candidate."""
    out = []
    for c in scan.get("clients", []):
        under = [k["signature"] for k in candidates if matches(k, c)]
        if c.get("verdict") in CAUGHT or is_raised(c) or under:
            out.append({**c, "candidates": under})
    return out


def real(paths: Iterable[Path], cmd: list[str], robots: Path | None, dns: bool, campaigns: bool) -> int:
    """Scan and watch each log; print every client botguard acts on (a log botguard cannot read is
    reported and the others still run)."""
    failed = 0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="bench_campaigns-") as tmp:
            try:
                out = run_botguard(cmd, path, Path(tmp), robots, None, dns, campaigns=campaigns)
            except CommandFailed as exc:
                print(f"\n{path}: not measured: {exc}")
                failed += 1
                continue
        print(real_report(path, out))
    return 1 if failed else 0


def real_report(path: Path, out: Outputs) -> str:
    """What botguard acts on in one log, and what it only monitors (by reason)."""
    rows = flagged(out.scan, out.candidates)
    summary = out.scan["summary"]
    lines = [f"\n{path}: {summary['lines']:,} lines ({summary['malformed']:,} malformed), "
             f"{summary['clients']:,} clients, {len(out.candidates)} candidates, {len(rows)} clients acted on"]  # fmt: skip
    monitored = Counter(
        str((c.get("reasons") or ["?"])[0])
        for c in out.scan["clients"]
        if c.get("verdict") == "monitor" and not is_raised(c)
    )
    lines += [
        f"  (monitor, not acted on: {n:,} clients: {reason[:100]})" for reason, n in monitored.most_common()
    ]
    for c in rows:
        why = "; ".join(c.get("reasons") or [])[:110]
        under = f" candidates={','.join(c['candidates'])}" if c["candidates"] else ""
        lines.append(f"  {c['verdict']:<9} {c['ip']:<16} {c.get('requests', 0):>5} req  {(c['user_agent'] or '')[:70]!r}  {why}{under}")  # fmt: skip
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument(
        "--format", dest="fmt", choices=gen_day.FORMATS, default="combined", help="log format of the days"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: every dev and held-out seed")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "out")
    parser.add_argument(
        "--botguard", default=f"{shlex.quote(sys.executable)} -m botguard", help="command to run"
    )
    parser.add_argument("--dns", action="store_true", help="let the scan do reverse DNS (default --no-dns)")
    parser.add_argument(
        "--campaigns",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scan --campaigns: replay the log through the stream learner (default; slow)",
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="approve every candidate and print deploy-rules --dry-run's impact",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--real", type=Path, nargs="+", metavar="LOG", help="real logs: list what botguard acts on"
    )
    parser.add_argument("--robots", type=Path, help="robots.txt for --real")
    args = parser.parse_args(argv)  # fmt: skip
    cmd = shlex.split(args.botguard)
    print(f"bench_campaigns: botguard scan {_scan_mode(args.campaigns)}")
    try:
        if args.real:
            return real(args.real, cmd, args.robots, args.dns, args.campaigns)
        return bench(args, cmd)
    except CommandFailed as exc:
        print(f"bench_campaigns: {exc}", file=sys.stderr)
        return 1


def bench(args: argparse.Namespace, cmd: list[str]) -> int:
    """Every seed, then one table per seed set (dev, held-out, others)."""
    seeds = args.seeds or [*gen_day.DEV_SEEDS, *gen_day.HELDOUT_SEEDS]
    results = {seed: bench_seed(seed, args, cmd) for seed in seeds}
    named = (*gen_day.DEV_SEEDS, *gen_day.HELDOUT_SEEDS)
    for title, group in (("dev seeds", gen_day.DEV_SEEDS), ("held-out seeds", gen_day.HELDOUT_SEEDS),
                         ("other seeds", tuple(s for s in seeds if s not in named))):  # fmt: skip
        runs = [(s, results[s]) for s in seeds if s in group]
        if runs:
            print(f"\n{table(title, runs)}")
    for seed, fig in results.items():
        if fig.get("unsafe_signatures"):
            print(f"seed {seed}: unsafe candidates: {', '.join(fig['unsafe_signatures'])}")
        if fig.get("preview"):
            print(f"\nseed {seed}: deploy-rules --dry-run with every candidate approved:\n{fig['preview']}")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
