#!/usr/bin/env python3
"""Generate days of a shop's traffic that botguard was never tuned on, with the truth per client.

    python bench/gen_day.py --lines 200000 --seed 11 --out day.log [--days 1] [--format combined]

Why a second generator: bench/gen_logs.py was written together with botguard's rules and model,
and botguard separates its traffic perfectly. This one is written apart from both (its own code,
parameters and RNG) and holds what is hard: residential-proxy campaigns (30-200 addresses, 1-12
requests each, current browser agents over HTTP/2, no referer or a fake one, consecutive catalogue
ids split across addresses, human-like pauses in some), scrapers rotating through hosting /24s
with dated Chrome agents, single addresses walking the catalogue at a reading pace, headless
Chrome fleets that load assets, fake Googlebots, self-declared bots that ignore robots.txt (some
into a honeypot), people behind carrier-grade NAT sharing one address, people on repeat visits
whose browsers cache every asset, mobile people, verified Googlebot and bingbot obeying
robots.txt from their published networks, and welcome feed readers, uptime monitors and a link
checker. bench/README.md says what each population models and why.

Writes FILE (combined, vhost_combined or nginx escape=json lines), and beside it
FILE.robots.txt, FILE.botguard.yaml (the honeypot, as a site owner would configure it) and
FILE.truth.json: per client (ip + user agent) its population, campaign, wanted/unwanted,
is_person, people behind it, requests, assets, robots.txt-disallowed and honeypot requests, and
how many of its campaign's requests came before its first one; per campaign its parameters and
request times. Lines stream to disk in time order; the same arguments give the same bytes.

Seeds: botguard is developed on DEV_SEEDS only. HELDOUT_SEEDS are for reporting: never look at
their results to choose a threshold, a feature or a rule (bench_campaigns.py prints both).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the private _day* modules next to this file

from _dayactors import Actor, Req, Who
from _daynet import HOSTING, Agents, Networks, lookup_asns
from _dayplan import Mix, Planner
from _daysite import Site

#: Seeds to develop and tune on.
DEV_SEEDS = (11, 12, 13)
#: Seeds never tuned on: figures on them are the honest ones.
HELDOUT_SEEDS = (90210, 4711, 27182)
START = "2026-11-23T00:00:00+01:00"
FORMATS = ("combined", "vhost_combined", "json")
ASSET_PREFIXES = ("/static/", "/media/", "/favicon.ico")


@dataclass(slots=True)
class ClientTruth:
    """What one client (ip + agent) did, counted while its lines are written."""

    who: Who
    first: float
    campaign_before: int | None
    last: float = 0.0
    requests: int = 0
    assets: int = 0
    disallowed: int = 0
    honeypot: int = 0
    robots: int = 0
    people: set[int] = field(default_factory=set)


class Truth:
    """Counts per client and per campaign as the lines go out."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.clients: dict[tuple[str, str], ClientTruth] = {}
        self.campaign_times: dict[str, list[int]] = {}
        self.lines = 0
        self.first: float | None = None
        self.last = 0.0

    def add(self, req: Req) -> None:
        ts, ip, ua, _method, path, _status, _size, _ref, _proto, who = req
        self.lines += 1
        if self.first is None:
            self.first = ts
        self.last = ts
        client = self.clients.get((ip, ua))
        if client is None:
            before = len(self.campaign_times.setdefault(who.campaign, [])) if who.campaign else None
            client = self.clients[(ip, ua)] = ClientTruth(who, ts, before)
        elif client.who.population != who.population:
            raise SystemExit(f"gen_day: {ip} {ua!r} is both {client.who.population} and {who.population}")
        if who.is_person:
            client.people.add(id(who))
        client.last = ts
        client.requests += 1
        if path.startswith(ASSET_PREFIXES):
            client.assets += 1
        elif path == "/robots.txt":
            client.robots += 1
        elif self.site.disallowed(path):
            client.disallowed += 1
            client.honeypot += path.startswith(self.site.honeypot)
        if who.campaign:
            self.campaign_times[who.campaign].append(int(ts))

    def document(self, meta: dict[str, object], campaigns: dict[str, dict[str, object]]) -> dict[str, object]:
        """The truth file: every client and campaign, and totals per population."""
        asns = lookup_asns([ip for ip, _ in self.clients])
        clients = [_client_row(ip, ua, c, asns.get(ip)) for (ip, ua), c in self.clients.items()]
        populations: dict[str, dict[str, int]] = {}
        for row in clients:
            p = populations.setdefault(str(row["class"]), {"clients": 0, "requests": 0, "people": 0})
            p["clients"] += 1
            p["requests"] += int(row["requests"])  # type: ignore[call-overload]
            p["people"] += int(row["people"])  # type: ignore[call-overload]
        members: dict[object, list[str]] = {}
        for row in clients:
            members.setdefault(row["campaign"], []).append(str(row["ip"]))
        rows = []
        for cid, params in campaigns.items():
            times = self.campaign_times.get(cid, [])
            ips = members.get(cid, [])
            rows.append(
                {**params, "clients": len(ips), "ips": len(set(ips)), "requests": len(times),
                 "first": times[0] if times else None, "last": times[-1] if times else None, "times": times}
            )  # fmt: skip
        first = int(self.first or 0)
        return {
            **meta,
            "lines": self.lines,
            "first": first,
            "last": int(self.last),
            "populations": dict(sorted(populations.items())),
            "campaigns": rows,
            "clients": clients,
        }


def _client_row(ip: str, ua: str, c: ClientTruth, asn: int | None) -> dict[str, object]:
    who = c.who
    return {
        "ip": ip,
        "user_agent": ua,
        "class": who.population,
        "campaign": who.campaign,
        "wanted": who.wanted,
        "is_person": who.is_person,
        "agent_kind": who.agent_kind,
        "people": len(c.people),
        "requests": c.requests,
        "assets": c.assets,
        "disallowed": c.disallowed,
        "honeypot": c.honeypot,
        "robots": c.robots,
        "first": int(c.first),
        "last": int(c.last),
        "campaign_requests_before": c.campaign_before,
        "asn": asn,
        "hosting": asn in HOSTING if asn is not None else False,
    }


def merge(actors: Iterable[Actor], seeds: random.Random, site: Site) -> Iterator[Req]:
    """All actors' requests in time order. An actor's generator is created only when the clock
    reaches its start, so memory holds the actors active now, not the whole day."""
    pending = sorted(actors, key=lambda a: a.start, reverse=True)
    actor_seeds = [seeds.getrandbits(64) for _ in pending]
    heap: list[tuple[float, int, Req, Iterator[Req]]] = []
    tick = 0
    while heap or pending:
        while pending and (not heap or pending[-1].start <= heap[0][0]):
            actor = pending.pop()
            stream = actor.requests(random.Random(actor_seeds[len(pending)]), site)
            first = next(stream, None)
            if first is not None:
                heapq.heappush(heap, (first[0], tick, first, stream))
                tick += 1
        _, _, req, stream = heap[0]
        yield req
        nxt = next(stream, None)
        if nxt is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (nxt[0], tick, nxt, stream))
            tick += 1


class Writer:
    """Formats requests as log lines; timestamps rendered once per second."""

    def __init__(self, out: TextIO, fmt: str, site: Site, tz: timedelta) -> None:
        self.out, self.fmt, self.host, self.zone = out, fmt, site.host, timezone(tz)
        self._offset = int(tz.total_seconds())
        self._second = -1
        self._stamp = self._hour = self._zone = ""
        self._buf: list[str] = []

    def _time(self, ts: float) -> str:
        second = int(ts)
        if second != self._second:
            local = second + self._offset
            if local // 3600 != (self._second + self._offset) // 3600:  # strftime once an hour
                top = datetime.fromtimestamp(second - local % 3600, self.zone)
                self._hour = top.isoformat()[:14] if self.fmt == "json" else top.strftime("%d/%b/%Y:%H:")
                self._zone = top.isoformat()[19:] if self.fmt == "json" else top.strftime(" %z")
            self._second = second
            minute, sec = divmod(local % 3600, 60)
            self._stamp = f"{self._hour}{minute:02d}:{sec:02d}{self._zone}"
        return self._stamp

    def write(self, req: Req) -> None:
        ts, ip, ua, method, path, status, size, ref, proto, _who = req
        stamp = self._time(ts)
        if self.fmt == "json":
            line = json.dumps(
                {"time_iso8601": stamp, "remote_addr": ip, "host": self.host, "request_method": method,
                 "request_uri": path, "server_protocol": proto, "status": status, "body_bytes_sent": size,
                 "http_referer": "" if ref == "-" else ref, "http_user_agent": ua}
            )  # fmt: skip
        else:
            line = f'{ip} - - [{stamp}] "{method} {path} {proto}" {status} {size} "{ref}" "{ua}"'
            if self.fmt == "vhost_combined":
                line = f"{self.host}:443 {line}"
        self._buf.append(line)
        if len(self._buf) >= 4096:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self.out.write("\n".join(self._buf) + "\n")
            self._buf.clear()


def generate(
    out: Path, lines: int, seed: int, days: int = 1, fmt: str = "combined", start: str = START
) -> dict:
    """Write the log and its three companion files; return the truth document."""
    began = time.perf_counter()
    site = Site()
    master = random.Random(f"gen_day:{seed}")
    planner = Planner(master, Networks(), Agents.load())
    origin = datetime.fromisoformat(start)
    units = Mix().units(max(1, lines // days))
    actors: list[Actor] = []
    for day in range(days):
        actors += planner.day(day, (origin + timedelta(days=day)).timestamp(), units)
    truth = Truth(site)
    tz = origin.utcoffset() or timedelta(0)
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        writer = Writer(handle, fmt, site, tz)
        for req in merge(actors, master, site):
            truth.add(req)
            writer.write(req)
        writer.flush()
    Path(f"{out}.robots.txt").write_text(site.robots_txt(), encoding="utf-8")
    Path(f"{out}.botguard.yaml").write_text(site.botguard_config(), encoding="utf-8")
    meta = {
        "generator": "bench/gen_day.py",
        "seed": seed,
        "seed_set": "dev" if seed in DEV_SEEDS else "heldout" if seed in HELDOUT_SEEDS else "other",
        "days": days,
        "lines_asked": lines,
        "format": fmt,
        "start": start,
        "units_per_day": units,
        "site": {"host": site.host, "honeypot": site.honeypot, "robots": f"{out.name}.robots.txt"},
    }
    doc = truth.document(meta, planner.campaigns)
    with Path(f"{out}.truth.json").open("w", encoding="utf-8") as handle:
        json.dump(doc, handle, separators=(",", ":"))
    return {**doc, "seconds": round(time.perf_counter() - began, 2)}  # time: not part of the truth file


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="log file to write")
    parser.add_argument("--lines", type=int, default=200_000, help="about this many lines (default 200000)")
    parser.add_argument("--seed", type=int, default=DEV_SEEDS[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="combined")
    parser.add_argument(
        "--start", default=START, help=f"first day's midnight, ISO 8601 with offset ({START})"
    )
    args = parser.parse_args(argv)
    if args.lines < 1 or args.days < 1:
        parser.error("--lines and --days must be positive")
    doc = generate(args.out, args.lines, args.seed, args.days, args.fmt, args.start)
    print(f"{args.out}: {doc['lines']} lines, {len(doc['clients'])} clients, "  # type: ignore[arg-type]
          f"{len(doc['campaigns'])} campaigns in {doc['seconds']} s", file=sys.stderr)  # type: ignore[arg-type]  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
