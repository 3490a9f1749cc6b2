"""The challenge verdict: which evidence sends a client to ``challenge`` (policy.challenge), and who
never gets it (people, verified crawlers, allowlisted clients, programs that name themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest

from botguard.app.env import Env
from botguard.app.scan import ScanRequest, run_scan
from botguard.config import CHALLENGE_EVIDENCE, load_settings
from botguard.judge.verdict import CHALLENGE_WHEN
from botguard.robots.sources import parse_robots_option
from tests.e2e.scan.conftest import CHROME, GOOGLEBOT, ROBOTS, line

#: A browser agent that walks 12 pages without assets or referers: judged a program.
WALKER = "198.51.100.10"
#: ... the same, and two of its pages are disallowed (/cart): a program that breaks robots.txt.
CART_WALKER = "198.51.100.11"
#: 3 pages, a minute apart, no referer, no asset: too little to judge, but walks a list.
LISTER = "198.51.100.12"
#: One page, no referer: a person opening a bookmark looks exactly like this.
BOOKMARK = "198.51.100.13"
#: A person: a page, its assets, a link followed.
PERSON = "198.51.100.14"
#: One page from a hosting network (DigitalOcean in the bundled ASN table).
CLOUD = "104.248.153.1"
#: The walker's behaviour from an allowlisted address.
FRIEND = "192.0.2.50"
#: Googlebot from Google's published range, walking pages like the walker.
GOOGLE = "66.249.66.1"


def _walk(ip: str, start: int, pages: list[str], ua: str = CHROME, step: int = 1) -> list[str]:
    return [line(ip, start + step * i, f"GET {page} HTTP/1.1", 200, ua) for i, page in enumerate(pages)]


def build_log() -> str:
    products = [f"/products/{i}" for i in range(12)]
    lines = [
        *_walk(WALKER, 0, products),
        *_walk(CART_WALKER, 100, [*products[:10], "/cart", "/cart?x=2"]),
        *_walk(LISTER, 200, products[:3], step=60),
        *_walk(BOOKMARK, 300, ["/products/7"]),
        line(PERSON, 400, "GET / HTTP/1.1", 200, CHROME),
        line(PERSON, 401, "GET /static/app.css HTTP/1.1", 200, CHROME, "https://shop.example/"),
        line(PERSON, 430, "GET /products/3 HTTP/1.1", 200, CHROME, "https://shop.example/"),
        *_walk(CLOUD, 500, ["/products/9"]),
        *_walk(FRIEND, 600, products),
        line(GOOGLE, 700, "GET /robots.txt HTTP/1.1", 200, GOOGLEBOT),
        *_walk(GOOGLE, 701, products, ua=GOOGLEBOT),
    ]
    return "".join(sorted(lines, key=lambda text: text.split("[", 1)[1]))


@pytest.fixture()
def site(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "access.log").write_text(build_log())
    (tmp_path / "robots.txt").write_text(ROBOTS)
    return {"dir": tmp_path, "log": tmp_path / "access.log", "robots": tmp_path / "robots.txt"}


def verdicts(site: dict[str, Path], config: str = "") -> dict[str, tuple[str, str]]:
    """ip -> (verdict, first reason) of a scan with this config (no model: the rules alone)."""
    path = site["dir"] / "botguard.yaml"
    path.write_text(f"allowlist: {{ips: [{FRIEND}]}}\n{config}")
    request = ScanRequest(paths=(str(site["log"]),), settings=load_settings(path), save=False, dns=False,
                          model=False, robots=parse_robots_option((str(site["robots"]),), False))  # fmt: skip
    result = run_scan(request, Env()).result
    return {c.ip: (c.verdict, c.reasons[0]) for c in result.client_rows()}


def test_default_policy_challenges_browser_agents_on_behavioural_evidence(site: dict[str, Path]) -> None:
    """automated, no_referer and hosting evidence: challenge, each with its reason first."""
    got = verdicts(site)
    assert got[WALKER] == ("challenge", "challenge: browser user agent but behaves like a program (no assets, "
                                        "no referers)")  # fmt: skip
    assert got[LISTER] == ("challenge", "challenge: browser user agent; 3 pages without a referer or an asset "
                                        "(people follow links; programs walk lists)")  # fmt: skip
    assert got[CLOUD] == ("challenge", "challenge: browser user agent from a hosting network; too little "
                                       "traffic to tell a person from a program")  # fmt: skip


def test_a_program_breaking_robots_txt_is_challenged_before_it_is_blocked(site: dict[str, Path]) -> None:
    """Its only evidence is behaviour: challenge (with the violations as reasons); blocked at once
    when challenge_before_block is off."""
    verdict, reason = verdicts(site)[CART_WALKER]
    assert (verdict, reason) == ("challenge", "challenge before block: browser user agent but behaves like a "
                                              "program (no assets, no referers)")  # fmt: skip
    assert verdicts(site, "policy: {challenge_before_block: false}")[CART_WALKER] == (
        "block",
        "violated Disallow: /cart (2 requests)",
    )


def test_people_crawlers_and_the_allowlist_are_never_challenged(site: dict[str, Path]) -> None:
    """A person, a one-page visit, a verified Googlebot walking pages and an allowlisted walker."""
    got = verdicts(site)
    assert got[PERSON][0] == "allow"
    assert got[BOOKMARK] == (
        "monitor",
        "browser user agent; too little traffic to tell a person from a program",
    )
    assert got[GOOGLE][0] == "allow"
    assert got[FRIEND] == ("allow", f"allowlisted network {FRIEND}/32")


@pytest.mark.parametrize(
    ("config", "challenged"),
    [
        ("policy: {challenge: []}", {CART_WALKER}),  # challenge_before_block still holds
        ("policy: {challenge: [], challenge_before_block: false}", set()),
        ("policy: {challenge: [automated]}", {WALKER, CART_WALKER}),
        ("policy: {challenge: [no_referer], challenge_min_pages: 4}", {CART_WALKER}),
        ("policy: {challenge: [hosting]}", {CART_WALKER, CLOUD}),
    ],
)
def test_each_evidence_is_its_own_knob(site: dict[str, Path], config: str, challenged: set[str]) -> None:
    """Only the evidence listed in policy.challenge challenges; the rest stays at monitor."""
    got = verdicts(site, config)
    assert {ip for ip, (verdict, _) in got.items() if verdict == "challenge"} == challenged
    assert got[WALKER][0] == ("challenge" if WALKER in challenged else "monitor")


def test_every_evidence_name_the_config_accepts_has_one_condition() -> None:
    """The config's vocabulary and the judge's table of conditions name the same evidence."""
    assert list(CHALLENGE_WHEN) == list(CHALLENGE_EVIDENCE)
