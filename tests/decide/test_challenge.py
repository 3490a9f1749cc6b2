"""Challenge decisions: who gets one, how long it lasts, and that it goes away with its verdict."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from botguard.config import Allowlist, DecideSettings
from botguard.decide import Decision, DecisionSet, Match, active_decisions, build_decisions, record_decisions
from botguard.decide.build import judged_subjects
from botguard.decide.store import load_decisions
from botguard.state import State
from tests.judge.scans import client_records, client_value

POLICY = DecideSettings(bantime=3600, bantime_factor=2, bantime_max=8 * 3600, challenge_time=600)
NOW = datetime(2024, 3, 5, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0"


def _client(
    ip: str, verdict: str, category: str, ua: str = CHROME, last: str = "2024-03-04T11:00:00Z"
) -> dict:
    return client_value(ip, ua, verdict, category=category, last_seen=last)


def _decide(*clients: dict, allowlist: Allowlist | None = None) -> list[tuple[str, str, str | None, str]]:
    decisions = build_decisions(
        client_records(*clients), [], lambda name: None, allowlist or Allowlist(), POLICY
    )
    return [(d.action, d.match.kind, d.match.ip, d.match.value) for d in decisions.decisions]


def test_a_challenged_client_is_challenged_by_address() -> None:
    assert _decide(_client("198.51.100.7", "challenge", "automated")) == [
        ("challenge", "ip", None, "198.51.100.7")
    ]


def test_a_challenge_at_an_address_a_person_shares_names_the_exact_agent() -> None:
    """A carrier's NAT: the person beside the program keeps the page, the program's agent is challenged."""
    got = _decide(
        _client("198.51.100.7", "challenge", "automated", ua=CHROME),
        _client("198.51.100.7", "allow", "human", ua=FIREFOX),
    )
    assert got == [("challenge", "client", "198.51.100.7", CHROME)]


def test_people_verified_crawlers_and_the_allowlist_get_no_challenge() -> None:
    allowlist = Allowlist(networks=(ipaddress.ip_network("203.0.113.0/24"),))
    got = _decide(
        _client("198.51.100.20", "allow", "human"),
        _client("198.51.100.21", "monitor", "browser"),
        _client("203.0.113.5", "challenge", "automated"),  # inside the allowlisted network
        allowlist=allowlist,
    )
    assert got == [("allow", "cidr", None, "203.0.113.0/24")]


def _z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fresh(ip: str, last: datetime, action: str = "challenge") -> DecisionSet:
    return DecisionSet.of(
        [Decision(action, Match("ip", ip), ("r",), "scan", last - timedelta(hours=1), last)]
    )  # type: ignore[arg-type]


def test_a_challenge_lasts_challenge_time_and_never_escalates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A ban doubles on a repeat offence; a challenge is challenge_time every time."""
    with State(tmp_path / "s.db") as state:
        first = record_decisions(state, _fresh("198.51.100.7", NOW), NOW, POLICY, Allowlist())
        assert [d.expires_at for d in first.decisions] == [NOW + timedelta(seconds=600)]
        assert len(active_decisions(state, NOW + timedelta(minutes=11), Allowlist())) == 0
        later = NOW + timedelta(hours=2)  # seen again after it expired: a repeat
        again = record_decisions(state, _fresh("198.51.100.7", later), later, POLICY, Allowlist())
        assert [(d.offences, d.expires_at) for d in again.decisions] == [(2, later + timedelta(seconds=600))]


def test_a_challenge_is_dropped_when_the_scan_judges_its_client_again_without_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The verdict went away (the client now browses like a person): the stored challenge goes too;
    a ban stays, and a challenge whose client the scan did not see again stays."""
    with State(tmp_path / "s.db") as state:
        fresh = DecisionSet.of(
            [*_fresh("198.51.100.7", NOW).decisions, *_fresh("198.51.100.8", NOW).decisions,
             *_fresh("198.51.100.9", NOW, "block").decisions]
        )  # fmt: skip
        record_decisions(state, fresh, NOW, POLICY, Allowlist())
        later = NOW + timedelta(minutes=5)
        person = client_records(_client("198.51.100.7", "allow", "human", last=_z(later)))
        other = client_records(_client("198.51.100.9", "allow", "human", last=_z(later)))
        judged = judged_subjects([*person, *other])
        active = record_decisions(state, DecisionSet(), later, POLICY, Allowlist(), judged)
        assert sorted((d.action, d.match.value) for d in active.decisions) == [
            ("block", "198.51.100.9"),
            ("challenge", "198.51.100.8"),
        ]
        assert sorted(key for _, key in load_decisions(state)) == ["ip||198.51.100.8", "ip||198.51.100.9"]


def test_a_challenge_judged_on_the_same_evidence_stays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A cron run over the same log sees the client no later than the challenge did: nothing changes."""
    with State(tmp_path / "s.db") as state:
        record_decisions(state, _fresh("198.51.100.7", NOW), NOW, POLICY, Allowlist())
        same = client_records(_client("198.51.100.7", "monitor", "browser", last=_z(NOW)))
        active = record_decisions(state, DecisionSet(), NOW, POLICY, Allowlist(), judged_subjects(same))
        assert [d.match.value for d in active.decisions] == ["198.51.100.7"]


def test_a_person_the_model_raised_does_not_shield_the_address() -> None:
    """Only a person who keeps the page makes a challenge name the exact agent: one the model
    raised (challenged itself) leaves the address rule in place."""
    raised = client_value(
        "198.51.100.7", FIREFOX, "challenge", category="human", last_seen="2024-03-04T11:00:00Z"
    )
    got = _decide(_client("198.51.100.7", "challenge", "automated"), raised)
    assert got == [("challenge", "ip", None, "198.51.100.7")]
