"""The Apache file's form: it can only deny, and its address lines are correct at scale."""

from __future__ import annotations

import ipaddress
import random
import re

import pytest

from botguard.addresses import AddressError, rule_network
from botguard.decide import Decision, DecisionSet, Match
from botguard.render.apache import IPS_PER_LINE, ApacheRenderer
from tests.render.conftest import standard_set
from tests.render.golden_cases import cases, load_case
from tests.render.servers import CHROME, apache_commands, check, running, scratch_prefix, write_apache_conf

AUTHZ_LINE = re.compile(
    r"\s*(?:</?(?:Location|If|Else|Require)\w*|Require|AuthMerging|Satisfy|Order|Allow|Deny)\b"
)
ADDRESS_LINE = re.compile(
    r"""SetEnvIfExpr "(?:-R '([^']+)' && \()?((?:-R '[^']+'(?: \|\| )?)+)\)?" botguard_block"""
)


def _text(ds: DecisionSet) -> str:
    (rule_file,) = ApacheRenderer().render(ds)
    return rule_file.text


def _random_networks(n: int, seed: int = 3) -> list[str]:
    """Addresses and networks of both versions, clustered and scattered; only ones a rule may name
    (no loopback, link-local, multicast or unspecified network: renderers leave those out)."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        if rng.random() < 0.5:
            net = ipaddress.ip_network(
                (rng.randrange(1 << 32), rng.choice([32, 32, 32, 24, 16])), strict=False
            )
        else:
            base = 0x20010DB8 << 96 | rng.randrange(1 << 40) << 64
            net = ipaddress.ip_network(
                (base | rng.randrange(1 << 64), rng.choice([128, 128, 64, 48])), strict=False
            )
        try:
            out.add(rule_network(str(net), network=True))
        except AddressError:
            continue
    return sorted(out)


@pytest.mark.parametrize("case", ["standard", *cases()])
def test_the_only_authorization_directive_is_a_denial(case: str) -> None:
    """No Require that can grant, no <Location>/AuthMerging: the site's own rules stay in force
    for every request botguard does not block."""
    text = _text(standard_set() if case == "standard" else load_case(case))
    authz = [line.strip() for line in text.splitlines() if AUTHZ_LINE.match(line)]
    assert authz == [
        next(line for line in text.splitlines() if line.startswith("<If ")),
        "Require all denied",
        "</If>",
    ]


def test_address_lines_are_guarded_by_a_network_covering_them() -> None:
    """Every blocked network is on exactly one line; each line holds at most 100 networks of one
    IP version behind a guard network that contains them all (none where only /0 would, which
    apache2 -t rejects); the real apache2 -t accepts the file."""
    networks = _random_networks(2500)
    ds = DecisionSet.of([Decision("block", Match("cidr" if "/" in n else "ip", n)) for n in networks])
    text = _text(ds)
    with scratch_prefix("apache") as prefix:
        (prefix / "botguard" / "botguard.conf").write_text(text)
        write_apache_conf(prefix, 18083)
        done = check(apache_commands(prefix)[0])
        assert done.returncode == 0, done.stderr
    seen: list[str] = []
    unguarded = 0
    for line in text.splitlines():
        if not line.startswith("SetEnvIfExpr") or "botguard_block" not in line:
            continue
        guard, body = ADDRESS_LINE.fullmatch(line).groups()  # type: ignore[union-attr]
        nets = [ipaddress.ip_network(n) for n in re.findall(r"-R '([^']+)'", body)]
        assert 1 <= len(nets) <= IPS_PER_LINE and len({n.version for n in nets}) == 1
        if guard is None:
            unguarded += 1
        else:
            cover = ipaddress.ip_network(guard)
            assert cover.prefixlen > 0 and all(n.subnet_of(cover) for n in nets), line[:200]  # type: ignore[arg-type]
        seen += [str(n) for n in nets]
    want = {str(ipaddress.ip_network(n, strict=False)) for n in networks}
    assert sorted(seen) == sorted(want) and len(seen) == len(want)
    assert 0 < unguarded < 5  # the IPv4 line across 128.0.0.0 (and any single-network line)


def test_large_address_list_blocks_every_listed_client_only() -> None:
    """1,000 listed addresses in one /21 (sent through X-Forwarded-For): listed ones get 403, their
    unlisted neighbours 200, on the real Apache."""
    rng = random.Random(5)
    pool = [f"10.0.{rng.randrange(0, 8)}.{rng.randrange(2, 255)}" for _ in range(3000)]
    listed = sorted(set(pool[:1000]) | {"10.0.0.2"}, key=lambda a: int(ipaddress.ip_address(a)))
    unlisted = sorted({a for a in pool[1000:] if a not in listed} - {"10.0.0.1"})
    ds = DecisionSet.of(
        [Decision("block", Match("ip", a)) for a in listed]
        + [Decision("block", Match("cidr", "10.0.9.0/24"))]
    )
    with running("apache", {"botguard.conf": _text(ds)}) as srv:
        sample = rng.sample(listed, 40) + ["10.0.9.77"]
        wrong = [(a, s) for a in sample if (s := srv.get(source=a)) != 403]
        wrong += [(a, s) for a in rng.sample(unlisted, 40) if (s := srv.get(source=a)) != 200]
        assert not wrong, wrong
        assert srv.get(ua=CHROME) == 200 and srv.get("/robots.txt", source="10.0.0.2") == 200
