"""Contract checks run against every renderer in the registry, plus the fake target (STYLE.md 3, 4).

A check that cannot apply to a target is skipped only where the target says so, with the reason,
in its ``contract_skips`` (next to the implementation, not in a list here).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from botguard.decide import Decision, DecisionSet, Match
from botguard.render import Renderer, renderers
from botguard.render._escape import RenderError, hex_word
from botguard.render.fake import FakeRenderer
from tests.render.conftest import address_set, standard_set

IMPLS: dict[str, Renderer] = {**renderers(), "fake": FakeRenderer()}


def check_is_a_renderer(r: Renderer) -> None:
    """Satisfies the Renderer protocol."""
    assert isinstance(r, Renderer)


def check_deterministic_and_byte_stable(r: Renderer) -> None:
    """Same decisions in any input order: same bytes."""
    ds = standard_set()
    shuffled = DecisionSet.of(list(reversed(ds.decisions)))
    assert r.render(ds) == r.render(shuffled) == r.render(standard_set())


def check_output_is_ascii_and_line_terminated(r: Renderer) -> None:
    """No attacker byte reaches a file raw."""
    for f in r.render(standard_set()):
        f.text.encode("ascii")
        assert f.text.endswith("\n")


def check_escapes_hostile_ua(r: Renderer) -> None:
    """No quote, brace, semicolon, hash, dollar or space of an agent survives escaping."""
    hostile = 'zz" 1; "~*" 1; "zz ${jndi:x} {#} \\ \'q\''
    text = "".join(
        f.text for f in r.render(DecisionSet.of([Decision("block", Match("ua_pattern", hostile))]))
    )
    assert "zz\\x22\\x201\\x3b\\x20\\x22\\x7e\\x2a" in text
    assert "jndi" in text and "${jndi" not in text and '"zz' not in text


def check_rejects_crlf(r: Renderer) -> None:
    """A CR/LF agent cannot become a rule: RenderError, not a broken file."""
    with pytest.raises(RenderError):
        r.render(DecisionSet.of([Decision("block", Match("ua_pattern", "a\r\nInjected: 1"))]))


def check_rejects_empty_agent(r: Renderer) -> None:
    """A blank UA rule would match every client: RenderError."""
    with pytest.raises(RenderError):
        r.render(DecisionSet.of([Decision("block", Match("ua_pattern", " \t "))]))


def check_allowlist_survives(r: Renderer) -> None:
    """Allow rules appear in the output even when a block covers the same values."""
    text = "".join(f.text for f in r.render(standard_set()))
    for needle in ("friendlymonitor", "203.0.113.9", "198.51.100.0/24"):
        assert needle in text, needle
    # the allowlisted client's agent: byte-escaped in a server regex, as is in a quoted literal
    assert hex_word("curl/7.81.0") in text or "curl/7.81.0" in text


def check_empty_set(r: Renderer) -> None:
    """An empty set still renders (valid, blocking nothing)."""
    assert r.render(DecisionSet())


def check_long_agent_is_truncated_to_a_prefix(r: Renderer) -> None:
    """An 8 KB agent becomes a regex no longer than the target's token limit."""
    ua = "A" * 8192
    for f in r.render(DecisionSet.of([Decision("block", Match("ua_pattern", ua))])):
        assert max(len(line) for line in f.text.splitlines()) < 4000


def check_never_names_an_address_no_rule_may_name(r: Renderer) -> None:
    """Zone ids, garbage and log-derived loopback/link-local addresses are left out; the user's listed
    loopback address and the canonical forms of the others are kept."""
    text = "".join(f.text for f in r.render(address_set()))
    for kept in ("203.0.113.9", "2001:db8::1", "198.51.100.0/24", "127.0.0.1"):
        assert kept in text, kept
    for dropped in ("fe80", "%", "not-an-ip", "ffff", "127.0.0.5"):
        assert dropped not in text, dropped


CHECKS: list[Callable[[Renderer], None]] = [
    check_is_a_renderer, check_deterministic_and_byte_stable, check_output_is_ascii_and_line_terminated,
    check_escapes_hostile_ua, check_rejects_crlf, check_rejects_empty_agent, check_allowlist_survives, check_empty_set,
    check_long_agent_is_truncated_to_a_prefix, check_never_names_an_address_no_rule_may_name,
]  # fmt: skip


def _pairs() -> Iterator[tuple[str, Callable[[Renderer], None]]]:
    for name in IMPLS:
        for check in CHECKS:
            yield name, check


@pytest.mark.parametrize(("name", "check"), list(_pairs()), ids=[f"{n}:{c.__name__}" for n, c in _pairs()])
def test_contract(name: str, check: Callable[[Renderer], None]) -> None:
    renderer = IMPLS[name]
    reason = getattr(type(renderer), "contract_skips", {}).get(check.__name__)
    if reason:
        pytest.skip(f"{name}: {reason}")
    check(renderer)


def test_registry_has_every_target_each_satisfying_the_protocol_under_its_name() -> None:
    """One registry: nginx, Apache and Cloudflare, each a Renderer whose name is its key."""
    registry = renderers()
    assert sorted(registry) == ["apache", "cloudflare", "nginx"]
    for name, renderer in registry.items():
        assert isinstance(renderer, Renderer) and renderer.name == name, name


def test_registry_carries_the_configuration() -> None:
    """Deploy's throttle policy reaches nginx; the Cloudflare list name and bot guard reach Cloudflare."""
    registry = renderers(7, 9, list_name="bg_custom", guard_bots=False)
    nginx = "".join(f.text for f in registry["nginx"].render(standard_set()))
    assert "rate=7r/s" in nginx and "burst=9 " in nginx
    (cloudflare,) = registry["cloudflare"].render(standard_set())
    assert "$bg_custom" in cloudflare.text and "cf.client.bot" not in cloudflare.text


def test_contract_skips_name_real_checks_and_say_why() -> None:
    """A skip names a check that exists and carries a reason (a stale or silent skip fails here)."""
    names = {c.__name__ for c in CHECKS}
    for name, renderer in IMPLS.items():
        for check, reason in getattr(type(renderer), "contract_skips", {}).items():
            assert check in names and len(reason) > 20, (name, check)


def test_fake_target_chunks_alternations_under_its_limit() -> None:
    """The base packs alternations under max_token (256 bytes for the fake)."""
    ds = DecisionSet.of([Decision("block", Match("ua_pattern", f"bot{i:03d}xyz")) for i in range(40)])
    (f,) = FakeRenderer().render(ds)
    chunks = [line[len("chunk ") :] for line in f.text.splitlines() if line.startswith("chunk ")]
    assert len(chunks) > 1 and all(len(c) <= 256 for c in chunks)
    packed = {p for c in chunks for p in re.fullmatch(r"\(\?:(.*)\)", c).group(1).split("|")}  # type: ignore[union-attr]
    assert packed == {f"bot{i:03d}xyz" for i in range(40)}
