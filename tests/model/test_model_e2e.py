"""End to end on generated traffic: a crawler family no list knows gets a rule candidate within 500
of its requests, and no candidate covers a person or a verified search engine."""

from __future__ import annotations

import ipaddress

import polars as pl
import pytest

from botguard.config import Policy, Settings
from botguard.identity.asn import RangeTableAsn
from botguard.logs.records import REQUEST_SCHEMA
from botguard.model.records import RuleCandidate
from botguard.model.stream import StreamLearner
from botguard.robots import RobotsTxt
from tests.model.streamkit import load_bench


def _covers(cand: RuleCandidate, rows: pl.DataFrame, asns: dict[str, int | None]) -> bool:
    if cand.match_kind == "ua_pattern":
        return bool(
            rows.get_column("user_agent")
            .str.to_lowercase()
            .str.contains(cand.match_value, literal=True)
            .any()
        )
    ips = rows.get_column("ip").unique().to_list()
    if cand.match_kind == "cidr":
        net = ipaddress.ip_network(cand.match_value)
        return any(
            ipaddress.ip_address(ip) in net for ip in ips if ipaddress.ip_address(ip).version == net.version
        )
    return any(str(asns.get(ip)) == cand.match_value for ip in ips)


@pytest.mark.parametrize("variant", ["novel", "chrome"])
def test_unseen_family_gets_a_candidate_and_nobody_good_is_covered(variant: str) -> None:
    gen = load_bench("gen_stream")
    stream = gen.generate(events=45_000, seed=3, variant=variant)
    robots = RobotsTxt.parse(gen.ROBOTS_TXT)
    config = Settings(policy=Policy(block_categories=("scanner",)), honeypots=(gen.HONEYPOT,))
    learner = StreamLearner.from_config(config, robots=lambda host: robots, state=None)
    requests = stream.select(list(REQUEST_SCHEMA))
    first: dict[str, RuleCandidate] = {}
    for start in range(0, stream.height, 4096):
        learner.observe(requests.slice(start, 4096))
        for cand in learner.candidates():
            first.setdefault(cand.signature, cand)
    novel = stream.filter(pl.col("cls") == "novel")
    good = stream.filter(pl.col("cls").is_in(["human", "googlebot", "bingbot"]))
    asns = {
        ip: (info.asn if info else None)
        for ip, info in RangeTableAsn().lookup_many(stream.get_column("ip").unique().to_list()).items()
    }
    covering = [c for c in first.values() if _covers(c, novel, asns)]
    assert covering, f"no candidate for the novel family: {sorted(first)}"
    proposed = min(c.proposed_at for c in covering)
    novel_times = novel.get_column("time").dt.epoch("us").to_numpy() / 1e6
    assert (novel_times <= proposed).sum() <= 500
    assert [c.signature for c in first.values() if _covers(c, good, asns)] == []
    best = min(covering, key=lambda c: c.proposed_at)
    assert best.explanation and best.explanation[0][1] > 0
    assert best.support_ips >= 3 and dict(best.label_counts)
