"""CandidateStore: reviews outlive re-proposals, expiry by candidate_ttl, decisions for deploy-rules."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botguard.config import Allowlist, ModelSettings, Settings
from botguard.model.records import RuleCandidate
from botguard.model.store import (
    CandidateError,
    CandidateStore,
    reason_of,
    unsafe_reason,
)
from botguard.state import State

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def candidate(signature: str = "ua_tok=novascrape", kind: str = "ua_pattern", value: str = "novascrape",
              **over: object) -> RuleCandidate:  # fmt: skip
    base = RuleCandidate(
        signature=signature, match_kind=kind, match_value=value, action="block", score=0.97,  # type: ignore[arg-type]
        bad_rate_lcb=0.95, support_requests=412, support_ips=37, first_seen=1_700_000_000.0,
        proposed_at=1_700_000_600.0, requests_to_candidate=260,
        explanation=(("asn_type=hosting", 1.4), ("ua_tok=novascrape", 2.1), ("robots=ignored", 0.9)),
        label_counts=(("robots", 40), ("honeypot", 3)),
    )  # fmt: skip
    return replace(base, **over)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_upsert_keeps_first_proposal_and_moves_the_evidence(db: Path) -> None:
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate()], now=T0)
        store.upsert([candidate(support_requests=900, support_ips=80, score=0.99, first_seen=1_699_999_000.0,
                                explanation=(("ua_tok=novascrape", 3.0),), match_value="other")], now=T0 + DAY)  # fmt: skip
    with State(db) as state:  # persisted, read back by a new connection
        [stored] = CandidateStore(state).list()
    c = stored.candidate
    assert (c.support_requests, c.support_ips, c.score) == (900, 80, 0.99)
    assert c.explanation == (("ua_tok=novascrape", 3.0),)
    assert c.first_seen == 1_699_999_000.0  # the earliest sighting
    assert c.match_value == "novascrape"  # the match a reviewer saw never changes under them
    assert c.proposed_at == 1_700_000_600.0 and c.requests_to_candidate == 260
    assert stored.first_proposed == T0 and stored.last_proposed == T0 + DAY
    assert stored.status == "proposed" and stored.reviewed_at is None


def test_approve_and_reject_persist_and_survive_reproposal(db: Path) -> None:
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate(), candidate("asn=64500", "asn", "64500"), candidate("ip24=203.0.113", "cidr",
                                                                                     "203.0.113.0/24")], now=T0)  # fmt: skip
        store.approve("ua_tok=novascrape", now=T0)
        store.reject("asn=64500", now=T0)
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate(), candidate("asn=64500", "asn", "64500")], now=T0 + DAY)
        statuses = {s.candidate.signature: s.status for s in store.list()}
        assert statuses == {
            "ua_tok=novascrape": "approved",
            "asn=64500": "rejected",
            "ip24=203.0.113": "proposed",
        }
        assert [s.candidate.signature for s in store.list("rejected")] == ["asn=64500"]
        assert store.get("asn=64500").reviewed_at == T0  # type: ignore[union-attr]
        store.approve("asn=64500")  # a reviewer may change their mind explicitly
        assert store.get("asn=64500").status == "approved"  # type: ignore[union-attr]


def test_unknown_signature_is_a_clear_error_and_changes_nothing(db: Path) -> None:
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate()], now=T0)
        with pytest.raises(CandidateError, match="no candidate with signature 'ua_tok=nope'") as err:
            store.approve("ua_tok=novascrape", "ua_tok=nope")
        assert err.value.exit_status == 2
        assert store.get("ua_tok=novascrape").status == "proposed"  # type: ignore[union-attr]  # all or none
        with pytest.raises(CandidateError):
            store.reject("nope")
        with pytest.raises(CandidateError, match="unknown status"):
            store.list("maybe")


def test_unsafe_candidates_cannot_be_approved_nor_deployed(db: Path) -> None:
    """A token inside Chrome's or Googlebot's agent would block people: refused, even with auto_deploy."""
    bad = [candidate("ua_tok=mozilla", value="Mozilla"), candidate("ua_tok=google", value="google"),
           candidate("asn=x", "asn", "AS64500; drop"), candidate("ip24=x", "cidr", "203.0.113.0/24 deny all")]  # fmt: skip
    assert all(unsafe_reason(c) for c in bad)
    assert unsafe_reason(candidate("asn=AS64500", "asn", "AS64500")) is None
    assert unsafe_reason(candidate("ip24=203.0.113", "cidr", "203.0.113.0/24")) is None
    # a network of loopback or link-local clients blocks no remote client (botguard.addresses)
    assert unsafe_reason(candidate("ip24=127.0.0", "cidr", "127.0.0.0/24")) == "loopback network"
    assert unsafe_reason(candidate("ip6_48=fe80:0:0", "cidr", "fe80::/48")) == "link-local network"
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert(bad, now=T0)
        for c in bad:
            with pytest.raises(CandidateError, match="cannot approve"):
                store.approve(c.signature)
        assert store.decisions(Settings(model=ModelSettings(auto_deploy=True)), now=T0) == []


def test_decisions_are_approved_ones_with_model_source_and_reason(db: Path) -> None:
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate(), candidate("asn=64500", "asn", "64500"), candidate("ip24=203.0.113", "cidr",
                                                                                     "203.0.113.0/24")], now=T0)  # fmt: skip
        assert store.decisions(Settings(), now=T0) == []  # default settings: nothing proposed ships
        store.approve("ua_tok=novascrape", "ip24=203.0.113")
        decisions = store.decisions(Settings(), now=T0 + timedelta(hours=1))
    assert sorted((d.action, d.match.kind, d.match.value, d.source) for d in decisions) == [
        ("block", "cidr", "203.0.113.0/24", "model"), ("block", "ua_pattern", "novascrape", "model")]  # fmt: skip
    ua = next(d for d in decisions if d.match.kind == "ua_pattern")
    expected = (
        "model: ua_tok=novascrape +2.1, asn_type=hosting +1.4, robots=ignored +0.9; 412 requests from 37 IPs"
    )
    assert ua.reasons == (expected,)
    assert ua.last_seen == T0 and ua.expires_at == T0 + DAY
    assert ua.first_seen == datetime.fromtimestamp(1_700_000_000, UTC)


def test_auto_deploy_ships_proposed_but_never_rejected(db: Path) -> None:
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate(), candidate("asn=64500", "asn", "64500")], now=T0)
        store.reject("asn=64500")
        store.upsert([candidate("asn=64500", "asn", "64500")], now=T0)
        values = [
            d.match.value for d in store.decisions(Settings(model=ModelSettings(auto_deploy=True)), now=T0)
        ]
        assert values == ["novascrape"]
        assert store.decisions(Settings(model=ModelSettings(auto_deploy=False)), now=T0) == []


def test_candidate_stops_deploying_after_ttl_without_reproposal_and_comes_back(db: Path) -> None:
    settings = Settings(model=ModelSettings(candidate_ttl=3600))
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate()], now=T0)
        store.approve("ua_tok=novascrape")
        assert len(store.decisions(settings, now=T0 + timedelta(minutes=59))) == 1
        assert store.decisions(settings, now=T0 + timedelta(minutes=61)) == []
        assert store.get("ua_tok=novascrape").status == "approved"  # type: ignore[union-attr]  # review kept
        store.upsert(
            [candidate()], now=T0 + timedelta(hours=5)
        )  # fires again: deployed again, still approved
        [d] = store.decisions(settings, now=T0 + timedelta(hours=5, minutes=30))
        assert d.expires_at == T0 + timedelta(hours=6)


def test_allowlisted_match_is_never_a_decision(db: Path) -> None:
    import ipaddress

    allow = Allowlist(user_agents=("novascrape",), networks=(ipaddress.ip_network("203.0.112.0/23"),))
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert([candidate(), candidate("ip24=203.0.113", "cidr", "203.0.113.0/24")], now=T0)
        store.approve("ua_tok=novascrape", "ip24=203.0.113")
        assert store.decisions(Settings(allowlist=allow), now=T0) == []


def test_status_column_refuses_garbage(db: Path) -> None:
    with State(db) as state:
        CandidateStore(state).upsert([candidate()], now=T0)
        with pytest.raises(sqlite3.IntegrityError):
            state.conn.execute("UPDATE model_candidates SET status = 'maybe'")


def test_reason_shows_top_five_by_magnitude_without_control_characters() -> None:
    c = candidate(explanation=tuple((f"f{i}", float(i)) for i in range(8)) + (("ua_tok=\x1b[31mred", -9.0),))
    assert reason_of(c) == ("model: ua_tok=\\x1b[31mred -9.0, f7 +7.0, f6 +6.0, f5 +5.0, f4 +4.0; "
                            "412 requests from 37 IPs")  # fmt: skip


def test_a_network_candidate_is_only_the_learners_own_shape(db: Path) -> None:
    """The learner proposes a client's IPv4 /24 or IPv6 /48, nothing wider: a hand-edited or older
    state's ``1.0.0.0/8`` (it holds Googlebot's and bingbot's neighbours) is never approved nor deployed."""
    wide = [candidate("ip24=1.0.0", "cidr", "1.0.0.0/8"), candidate("ip24=66.249", "cidr", "66.249.0.0/16"),
            candidate("ip6_48=2001:4860", "cidr", "2001:4860::/32")]  # fmt: skip
    assert all(unsafe_reason(c) for c in wide), [unsafe_reason(c) for c in wide]
    assert unsafe_reason(candidate("ip6_48=2001:db8:1", "cidr", "2001:db8:1::/48")) is None
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert(wide, now=T0)
        assert store.decisions(Settings(model=ModelSettings(auto_deploy=True)), now=T0) == []
