#!/usr/bin/env python3
"""Generate a realistic, seeded combined-format access log with its ground truth.

    python bench/gen_logs.py --lines 1000000 --seed 1 --out FILE [--robots-out robots.txt] [--gzip]

Why this exists: botguard's scan must be fast on millions of lines *and* right about who is a
crawler and who breaks robots.txt. Real logs give neither scale nor labels, so this writes a log
whose every client class is known: humans browsing with assets, verified-looking search bots,
obedient and abusive AI crawlers, SEO bots (some ignoring Crawl-delay), robots violators, honeypot
hitters, disguised scrapers on hosting ranges, scanners and junk, HTTP libraries, IPv6, query
strings and a few malformed lines. Next to FILE it writes FILE.truth.json with exact counts per
class and per non-human client, so tests can check scan results against them.

Output streams in 4k-line chunks (constant memory); the per-line work is one f-string.
The same seed and arguments always give byte-identical output.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the private _gen* modules next to this file

from _genactors import (
    DAY,
    Actor,
    AICompliant,
    Bytespider,
    CrawlDelayViolators,
    Ctx,
    DisguisedScrapers,
    Event,
    HoneypotHitters,
    Humans,
    Libraries,
    RobotsViolators,
    Scanners,
    SearchBots,
    SeoBots,
)
from _gendata import SITE, TRAP_PATH
from _genworld import (
    DISALLOWED,
    HONEYPOT,
    INVALID,
    ROBOTS,
    Client,
    Registry,
    Tally,
    build_site,
    robots_txt,
)

#: (class, bursts weight). Tuned so the line shares land near: humans 55%, search bots 7%,
#: compliant AI 4%, SEO 3%, crawl-delay violators 3%, Bytespider 9%, robots violators 3%,
#: honeypot 1.5%, disguised scrapers 8%, scanners 3%, libraries 2%.
CLASS_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("human", 11.0),
    ("search_bot", 2.3),
    ("ai_compliant", 1.6),
    ("seo_bot", 2.4),
    ("crawl_delay_violator", 0.35),
    ("ai_violator", 1.1),
    ("robots_violator", 0.5),
    ("honeypot", 0.35),
    ("disguised_scraper", 1.3),
    ("scanner", 0.8),
    ("library", 1.2),
)
CLASSES = tuple(name for name, _ in CLASS_WEIGHTS)

#: Summary groups of classes, as the truth sidecar reports them.
GROUPS: dict[str, tuple[str, ...]] = {
    "humans": ("human",),
    "good_bots": ("search_bot", "ai_compliant", "seo_bot"),
    "crawl_delay_violators": ("crawl_delay_violator",),
    "violators": ("ai_violator", "robots_violator", "honeypot"),
    "disguised_scrapers": ("disguised_scraper",),
    "scanners": ("scanner",),
    "libraries": ("library",),
}

#: Verdicts a correct scan may give each class under the default policy (block robots violators
#: and honeypot hitters, allow humans and compliant crawlers, monitor the rest; a browser agent
#: judged by its behaviour alone may be challenged). Clients with disallowed or honeypot evidence
#: are narrowed further in `expected_verdicts`.
EXPECTED: dict[str, tuple[str, ...]] = {
    "human": ("allow",),
    "search_bot": ("allow",),
    "ai_compliant": ("allow",),
    "seo_bot": ("allow",),
    "crawl_delay_violator": ("monitor", "block"),
    "ai_violator": ("monitor", "block"),
    "robots_violator": ("monitor", "block"),
    "honeypot": ("monitor", "block"),
    "disguised_scraper": ("monitor", "challenge", "block"),
    "scanner": ("monitor", "challenge", "block"),
    "library": ("allow", "monitor"),
}
DECLARED_VIOLATORS = ("ai_violator", "robots_violator", "honeypot")

#: A well-formed combined line (used to make sure every malformed line really is malformed).
COMBINED_RE = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$'
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CHUNK_LINES = 4096
#: Kinds of malformed line; the text-only ones keep a committed example readable (no NUL bytes).
MALFORMED_KINDS = ("truncated", "binary", "error_log", "nul_run")


@dataclass(frozen=True, slots=True)
class Options:
    """What to generate; every field is part of the output's identity (same options, same bytes)."""

    lines: int
    seed: int = 1
    days: float = 3.0
    start: datetime = datetime(2024, 3, 4, tzinfo=timezone(timedelta(hours=1)))
    malformed_rate: float = 0.0001
    malformed_kinds: tuple[str, ...] = MALFORMED_KINDS


@dataclass(slots=True)
class World:
    """Everything one generation run mutates: actors, their clients, and the human tally."""

    actors: dict[str, Actor]
    humans: Humans
    registry: Registry
    human_tally: Tally


def build_world(rng: random.Random, lines: int) -> World:
    """Actors with IP pools scaled by sqrt(lines / 1M): a bigger log sees more crawler IPs."""
    scale = min(3.0, max(0.15, (lines / 1_000_000) ** 0.5))
    ctx = Ctx(rng, build_site(rng), Registry(), scale)
    tally = Tally()
    humans = Humans(ctx, tally)
    actors: dict[str, Actor] = {
        "human": humans,
        "search_bot": SearchBots(ctx),
        "ai_compliant": AICompliant(ctx),
        "seo_bot": SeoBots(ctx),
        "crawl_delay_violator": CrawlDelayViolators(ctx),
        "ai_violator": Bytespider(ctx),
        "robots_violator": RobotsViolators(ctx),
        "honeypot": HoneypotHitters(ctx),
        "disguised_scraper": DisguisedScrapers(ctx),
        "scanner": Scanners(ctx),
        "library": Libraries(ctx),
    }
    return World(actors, humans, ctx.registry, tally)


class Stamper:
    """Formats `[10/Oct/2024:13:55:36 +0100]` bodies, once per distinct second (lines share seconds)."""

    def __init__(self, tz: timezone) -> None:
        self.tz = tz
        offset = int(tz.utcoffset(None).total_seconds() // 60)
        self.suffix = f" {'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        self.last, self.text = -1, ""

    def __call__(self, sec: int) -> str:
        if sec != self.last:
            d = datetime.fromtimestamp(sec, self.tz)
            self.last = sec
            self.text = (
                f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
                f"{self.suffix}"
            )
        return self.text


def malformed_line(
    rng: random.Random, victim: str, sec: int, tz: timezone, kinds: tuple[str, ...]
) -> tuple[str, str]:
    """A line no combined parser may accept, and its kind; `victim` is a real line to truncate."""
    kind = rng.choice(
        kinds + ("truncated",) if "truncated" in kinds else kinds
    )  # truncation is the commonest
    if kind == "truncated":  # cut inside the request, referer or user-agent quotes (disk full, rotation)
        quotes = [i for i, ch in enumerate(victim) if ch == '"']
        field = rng.choice((0, 2, 4)) if len(quotes) >= 6 else 0
        lo, hi = quotes[field] + 1, quotes[field + 1]
        line = victim[: rng.randrange(lo, hi)] if hi > lo else victim[:lo]
    elif kind == "binary":
        raw = bytes(b if b not in (10, 13) else 0 for b in rng.randbytes(rng.randrange(8, 120)))
        line = raw.decode("utf-8", "surrogateescape")
    elif kind == "nul_run":  # what a crash leaves in a preallocated log file
        line = "\x00" * rng.randrange(16, 200)
    else:  # an nginx error-log line written to the access log by a misconfiguration
        d = datetime.fromtimestamp(sec, tz)
        line = (
            f"{d:%Y/%m/%d %H:%M:%S} [error] 1187#1187: *{rng.randrange(10**6)} open() "
            f'"/var/www/html/favicon.png" failed (2: No such file or directory), client: '
            f'{victim.split(" ", 1)[0]}, server: {SITE}, request: "GET /favicon.png HTTP/1.1", host: "{SITE}"'
        )
    if COMBINED_RE.match(line) or not line.strip(" "):  # never happens with these kinds; stay safe
        return f"{victim[: victim.index('[')]}[", "truncated"
    return line + "\n", kind


def malformed_positions(rng: random.Random, opts: Options) -> Iterator[int]:
    """Sorted line indexes (0-based) that will hold a malformed line; exactly round(lines*rate)."""
    count = min(opts.lines, round(opts.lines * opts.malformed_rate))
    return iter(sorted(rng.sample(range(opts.lines), count)))


def generate(opts: Options, write: Callable[[bytes], object]) -> dict:
    """Write `opts.lines` lines through `write` (bytes chunks) and return the truth sidecar."""
    rng = random.Random(opts.seed)
    world = build_world(rng, opts.lines)
    tz = opts.start.tzinfo if isinstance(opts.start.tzinfo, timezone) else UTC
    stamp = Stamper(tz)
    start = opts.start.timestamp()
    end = start + opts.days * DAY
    s = min(1.0, (end - start) / max(opts.lines, 1))  # compress intra-burst pacing for dense logs
    bad = malformed_positions(rng, opts)
    next_bad = next(bad, -1)
    cum = [0.0]
    for _, weight in CLASS_WEIGHTS:
        cum.append(cum[-1] + weight)
    draws: list[str] = []
    malformed: Counter[str] = Counter()
    clients_seen: Counter[str] = Counter()
    buf: list[str] = []
    clock, written, lines, pace = start, 0, opts.lines, [5.0, 0.0]
    last_sec, ts = -1, ""

    while written < lines:
        if not draws:
            draws = rng.choices(CLASSES, cum_weights=cum[1:], k=CHUNK_LINES)
        events: list[Event] | None = world.actors[draws.pop()].burst(clock, s)
        if not events:
            events = world.humans.burst(clock, s)
        for off, client, req, status, size, ref, flags in events:
            sec = int(clock + off)
            if sec != last_sec:
                ts, last_sec = stamp(sec), sec
            line = f'{client.head}{ts}] "{req}" {status} {size} "{ref}{client.tail}'
            while written == next_bad:
                bad_line, kind = malformed_line(rng, line, sec, tz, opts.malformed_kinds)
                buf.append(bad_line)
                malformed[kind] += 1
                written += 1
                next_bad = next(bad, -1)
            if written >= lines:
                break
            buf.append(line)
            written += 1
            # count(): inlined, this loop runs once per line
            t = client.tally
            t.requests += 1
            t.last_seen = sec
            if not client.seen:
                client.seen = True
                clients_seen[client.cls] += 1
                if t.first_seen is None:
                    t.first_seen, t.robots_first = sec, bool(flags & ROBOTS)
            if flags:
                t.robots_fetches += flags & ROBOTS
                t.disallowed += (flags & DISALLOWED) >> 1
                t.honeypot += (flags & HONEYPOT) >> 2
                t.invalid += (flags & INVALID) >> 3
            if len(buf) >= CHUNK_LINES:
                write("".join(buf).encode("utf-8", "surrogateescape"))
                buf.clear()
        clock = advance(rng, clock, end, events, lines - written, pace)
    write("".join(buf).encode("utf-8", "surrogateescape"))
    return build_truth(opts, world, tz, malformed, clients_seen)


def advance(
    rng: random.Random, clock: float, end: float, events: list[Event], remaining: int, pace: list[float]
) -> float:
    """Start time of the next burst: after this one, plus a random gap sized so the remaining
    lines spread evenly until `end`. `pace` holds running means of burst length and duration."""
    duration = events[-1][0]
    pace[0] = 0.99 * pace[0] + 0.01 * len(events)
    pace[1] = 0.99 * pace[1] + 0.01 * duration
    if remaining <= 0:
        return clock + duration
    mean_gap = (end - clock - duration) / remaining * pace[0] - pace[1]
    return clock + duration + (rng.expovariate(1.0 / mean_gap) if mean_gap > 0 else 0.0)


def expected_verdicts(client: Client) -> list[str]:
    """What a correct scan may say about this client, narrowed by the evidence it left."""
    t = client.tally
    if t.honeypot or (client.cls in DECLARED_VIOLATORS and t.disallowed):
        return ["block"]
    if client.cls == "library" and t.disallowed:
        return ["monitor", "block"]
    return list(EXPECTED[client.cls])


def iso(sec: int | None, tz: timezone) -> str | None:
    return None if sec is None else datetime.fromtimestamp(sec, tz).isoformat()


def client_truth(client: Client, tz: timezone) -> dict:
    """One non-human client as the sidecar lists it (keys follow the scan JSON where they overlap)."""
    t = client.tally
    return {
        "ip": client.ip,
        "user_agent": client.ua,
        "class": client.cls,
        "crawler": client.crawler,
        "requests": t.requests,
        "robots_fetches": t.robots_fetches,
        "robots_fetched_first": t.robots_first if t.robots_fetches else None,
        "disallowed_requests": t.disallowed,
        "honeypot_requests": t.honeypot,
        "invalid_requests": t.invalid,
        "first_seen": iso(t.first_seen, tz),
        "last_seen": iso(t.last_seen, tz),
        "expected_verdicts": expected_verdicts(client),
    }


def add_tally(total: dict, t: Tally) -> None:
    total["requests"] += t.requests
    total["robots_fetches"] += t.robots_fetches
    total["disallowed_requests"] += t.disallowed
    total["honeypot_requests"] += t.honeypot
    total["invalid_requests"] += t.invalid


def empty_total() -> dict:
    return {
        "requests": 0,
        "clients": 0,
        "ips": 0,
        "robots_fetches": 0,
        "disallowed_requests": 0,
        "honeypot_requests": 0,
        "invalid_requests": 0,
    }


def build_truth(
    opts: Options, world: World, tz: timezone, malformed: Counter[str], clients_seen: Counter[str]
) -> dict:
    """The sidecar: file counts, per-class and per-group totals, crawlers, and non-human clients."""
    active = [c for c in world.registry.clients.values() if c.tally.requests]
    active.sort(key=lambda c: (CLASSES.index(c.cls), c.crawler or "", c.ip, c.ua))
    classes = {name: empty_total() for name in CLASSES}
    ips: dict[str, set[str]] = {name: set() for name in CLASSES}
    crawlers: dict[str, dict] = {}
    for client in active:
        add_tally(classes[client.cls], client.tally)
        ips[client.cls].add(client.ip)
        if client.crawler:
            entry = crawlers.setdefault(client.crawler, {"class": client.cls, **empty_total(), "_ips": set()})
            add_tally(entry, client.tally)
            entry["clients"] += 1
            entry["_ips"].add(client.ip)
    add_tally(classes["human"], world.human_tally)
    for name, total in classes.items():
        total["clients"] = clients_seen[name]
        total["ips"] = clients_seen[name] if name == "human" else len(ips[name])
        total["expected_verdicts"] = list(EXPECTED[name])
    for entry in crawlers.values():
        entry["ips"] = len(entry.pop("_ips"))
    groups = {
        g: {k: sum(classes[c][k] for c in members) for k in ("requests", "clients", "disallowed_requests")}
        for g, members in GROUPS.items()
    }
    stamps = [c.tally.first_seen for c in active] + [world.human_tally.first_seen]
    lasts = [c.tally.last_seen for c in active] + [world.human_tally.last_seen]
    n_bad = sum(malformed.values())
    return {
        "generator": "bench/gen_logs.py",
        "seed": opts.seed,
        "site": SITE,
        "trap_path": TRAP_PATH,
        "lines": opts.lines,
        "parsed": opts.lines - n_bad,
        "malformed": n_bad,
        "malformed_by_kind": dict(sorted(malformed.items())),
        "invalid_requests": classes["scanner"]["invalid_requests"],
        "first_seen": iso(min(x for x in stamps if x is not None), tz),
        "last_seen": iso(max(x for x in lasts if x is not None), tz),
        "groups": groups,
        "classes": classes,
        "crawlers": dict(sorted(crawlers.items())),
        "clients": [client_truth(c, tz) for c in active],
    }


@contextmanager
def open_sink(path: str, compress: bool) -> Iterator[BinaryIO]:
    """A binary sink for PATH ('-' = stdout); gzip with mtime 0 so output stays byte-identical."""
    raw = sys.stdout.buffer if path == "-" else open(path, "wb")  # noqa: SIM115 (closed below)
    try:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=5, mtime=0) as gz:
                yield gz
        else:
            yield raw
    finally:
        if path != "-":
            raw.close()
        else:
            raw.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000, help="lines to write (default 1000000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="log file to write, '-' for stdout")
    p.add_argument("--robots-out", help="also write the site's robots.txt here")
    p.add_argument("--truth-out", help="ground-truth JSON path (default OUT.truth.json; none for stdout)")
    p.add_argument("--gzip", action="store_true", help="gzip the log")
    p.add_argument("--days", type=float, default=3.0, help="time span covered (default 3)")
    p.add_argument(
        "--start",
        default="2024-03-04T00:00:00+01:00",
        help="first timestamp, ISO 8601 with offset; the offset is the log's timezone",
    )
    p.add_argument(
        "--malformed-rate", type=float, default=0.0001, help="share of malformed lines (default 0.0001)"
    )
    p.add_argument(
        "--malformed-kinds",
        default=",".join(MALFORMED_KINDS),
        help=f"comma-separated subset of {','.join(MALFORMED_KINDS)} (default all)",
    )
    args = p.parse_args(argv)
    if args.lines < 1 or args.days <= 0 or not 0 <= args.malformed_rate <= 1:
        p.error("--lines must be >= 1, --days > 0 and --malformed-rate within [0, 1]")
    kinds = tuple(k for k in args.malformed_kinds.split(",") if k)
    if not kinds or not set(kinds) <= set(MALFORMED_KINDS):
        p.error(f"--malformed-kinds must be a non-empty subset of {','.join(MALFORMED_KINDS)}")
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        p.error("--start needs a UTC offset, e.g. 2024-03-04T00:00:00+01:00")
    args.options = Options(args.lines, args.seed, args.days, start, args.malformed_rate, kinds)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    with open_sink(args.out, args.gzip) as sink:
        truth = generate(args.options, sink.write)
    elapsed = time.perf_counter() - began
    if args.robots_out:
        Path(args.robots_out).write_text(robots_txt(), encoding="utf-8")
    truth_path = args.truth_out or (None if args.out == "-" else f"{args.out}.truth.json")
    if truth_path:
        Path(truth_path).write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    size = os.path.getsize(args.out) if args.out != "-" else 0
    print(
        f"gen_logs: {truth['lines']} lines ({truth['malformed']} malformed, {truth['invalid_requests']} invalid "
        f"requests) in {elapsed:.2f} s ({truth['lines'] / elapsed:,.0f} lines/s), {size / 2**20:.1f} MiB"
        f"{' -> ' + args.out if args.out != '-' else ''}{', truth -> ' + truth_path if truth_path else ''}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
