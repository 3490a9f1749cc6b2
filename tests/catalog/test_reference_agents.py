"""The shipped reference agents: real browsers and welcome crawlers no rule may match."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from botguard.catalog import reference_agents
from botguard.catalog.reference import ReferenceAgents, bundled_agents


@pytest.fixture(scope="module")
def ref() -> ReferenceAgents:
    return reference_agents()


def test_lists_are_large_sorted_and_unique() -> None:
    """Thousands of distinct browser agents, hundreds of crawler ones, sorted, no duplicates."""
    browsers, bots = bundled_agents("browsers"), bundled_agents("good-bots")
    assert len(browsers) >= 10_000
    assert len(bots) >= 500
    for agents in (browsers, bots):
        assert list(agents) == sorted(set(agents))
        assert all(a == a.strip() and a.isprintable() for a in agents)


def test_headers_name_their_sources() -> None:
    """Each file starts with a comment naming where its agents come from (attribution)."""
    agents = resources.files("botguard.rules") / "agents"
    browsers = (agents / "browsers.txt").read_text(encoding="utf-8")
    bots = (agents / "good-bots.txt").read_text(encoding="utf-8")
    assert browsers.startswith("#") and "ua-parser/uap-core" in browsers.split("\n\n")[0]
    assert "Apache-2.0" in browsers[:2000]
    assert bots.startswith("#") and "monperrus/crawler-user-agents" in bots[:2000] and "MIT" in bots[:2000]


def test_browser_list_holds_no_self_declared_bot_or_personal_data() -> None:
    """No URL or e-mail address (how bots declare themselves; and no one's address is shipped)."""
    declared = re.compile(r"https?://|\+http|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)
    assert [a for a in bundled_agents("browsers") if declared.search(a)] == []


def test_reference_holds_the_agents_the_audit_named(ref: ReferenceAgents) -> None:
    """The corpus has the real devices and apps catalogue patterns used to hit."""
    for fragment in ("HTC Butterfly", "iBuddy", "HUAWEI SONIC", "GreenDemon", "WormsiPhone", "Lightning/"):
        assert fragment in ref, fragment
    assert "googlebot/2.1" in ref and "bingbot" in ref and "applebot" in ref
    assert "[fban/fbios;" in ref  # Facebook's in-app browser


def test_contains_is_case_insensitive_and_per_agent(ref: ReferenceAgents) -> None:
    """A fragment is found in one agent, in any case; never across two agents or empty."""
    assert ref.contains("HTC BUTTERFLY") and "htc butterfly" in ref
    assert "evilscraper/1.0" not in ref
    assert not ref.contains("") and not ref.contains("\n")
    last, first = ref.browsers[0][-4:], ref.browsers[1][:4]
    assert ref.contains(last + first) == any(last + first in a for a in ref.browsers + ref.good_bots)
    assert 42 not in ref  # type: ignore[operator]


def test_first_containing_names_the_agent(ref: ReferenceAgents) -> None:
    found = ref.first_containing("WormsiPhone")
    assert found is not None and found.startswith("wormsiphone-ipad/") and "\n" not in found
    assert ref.first_containing("evilscraper/1.0") is None
    assert ref.first_containing(ref.good_bots[-1]) == ref.good_bots[-1]  # the last line too


def test_lower_cased_and_cached(ref: ReferenceAgents) -> None:
    assert reference_agents() is ref
    assert len(ref) == len(bundled_agents("browsers")) + len(bundled_agents("good-bots"))
    assert all(a == a.lower() for a in ref.browsers[:500] + ref.good_bots[:500])
    with pytest.raises(KeyError):
        bundled_agents("nope")
