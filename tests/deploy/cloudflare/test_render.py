"""Rendering a decision set to Cloudflare objects: escaping, splitting, caps, guards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from botguard.decide.records import Decision, DecisionSet, Match
from botguard.render.cloudflare import MAX_EXPRESSION, quote, render_cloudflare

GUARD = 'http.request.uri.path ne "/robots.txt" and not cf.client.bot'


def _unquote(literal: str) -> str:
    """The Cloudflare reading of a quoted string (reference parser for the property test)."""
    assert literal[0] == literal[-1] == '"'
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            assert body[i + 1] in '\\"'
            out.append(body[i + 1])
            i += 2
            continue
        assert ch != '"', "unescaped quote would end the string"
        out.append(ch)
        i += 1
    return "".join(out)


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)).filter(lambda c: c != "\x7f")
    )
)
def test_quote_round_trips(value: str) -> None:
    """Any header-legal agent reads back exactly: no quote or backslash can end the string early."""
    assert _unquote(quote(value)) == value


def test_hostile_ua_cannot_inject() -> None:
    """An agent built to close the string and add `or true` stays inside the literal."""
    ua = 'x" or true or "\\'
    desired = render_cloudflare(DecisionSet.of([Decision("block", Match("ua_pattern", ua))]))
    (rule,) = desired.rules
    assert rule.expression == f'{GUARD} and (lower(http.user_agent) contains "x\\" or true or \\"\\\\")'


def test_control_characters_are_left_out_and_reported() -> None:
    desired = render_cloudflare(
        DecisionSet.of(
            [
                Decision("block", Match("ua_pattern", "bad\x01bot")),
                Decision("block", Match("ua_pattern", "GoodBot")),
            ]
        )
    )
    assert [r.expression.count("contains") for r in desired.rules] == [1]
    assert [x.reason for x in desired.left_out] == [
        "user agent with control characters or invalid UTF-8: 'bad\\x01bot'"
    ]


def test_crlf_and_blank_agents_are_left_out_and_reported() -> None:
    """What the server targets refuse (a CR/LF agent, a blank one) never becomes a rule here
    either: left out and reported, and the other agents still render."""
    desired = render_cloudflare(
        DecisionSet.of([
            Decision("block", Match("ua_pattern", "a\r\nInjected: 1")),
            Decision("block", Match("ua_pattern", " \t ")),
            Decision("block", Match("ua_pattern", "GoodBot")),
        ])
    )  # fmt: skip
    assert [r.expression.count("contains") for r in desired.rules] == [1]
    assert "goodbot" in desired.rules[0].expression
    assert sorted(x.reason for x in desired.left_out) == [
        "empty user agent would match every client",
        "user agent with control characters or invalid UTF-8: 'a\\r\\ninjected: 1'",  # lowered first
    ]


def test_long_expressions_split_under_4096() -> None:
    """1,000 agents become several rules, each within the limit, none lost, refs numbered."""
    ds = DecisionSet.of(
        [Decision("block", Match("ua_pattern", f"crawler-number-{i:04d}")) for i in range(1000)]
    )
    rules = render_cloudflare(ds).rules
    assert len(rules) > 1 and all(len(r.expression) <= MAX_EXPRESSION for r in rules)
    assert sum(r.expression.count("contains") for r in rules) == 1000
    assert [r.ref for r in rules] == [f"botguard:block-ua-{i}" for i in range(1, len(rules) + 1)]
    assert all(r.expression.startswith(GUARD) for r in rules)


def test_list_cap_keeps_worst_and_newest() -> None:
    """Over the cap, the most offending then most recent addresses win; the rest are reported."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ds = DecisionSet.of(
        [
            Decision(
                "block",
                Match("ip", f"10.0.{i // 256}.{i % 256}"),
                offences=1 + (i == 7),
                last_seen=now + timedelta(seconds=i),
            )
            for i in range(20)
        ]
    )
    desired = render_cloudflare(ds, max_items=5)
    assert desired.items == ("10.0.0.7", "10.0.0.16", "10.0.0.17", "10.0.0.18", "10.0.0.19")
    assert len(desired.left_out) == 15 and all("5-item list cap" in x.reason for x in desired.left_out)


def test_ten_thousand_cap_by_default() -> None:
    ds = DecisionSet.of(
        [Decision("block", Match("ip", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")) for i in range(10_050)]
    )
    desired = render_cloudflare(ds)
    assert len(desired.items) == 10_000 and len(desired.left_out) == 50


def test_ipv6_as_64_and_list_rule_and_asn_and_throttle() -> None:
    ds = DecisionSet.of(
        [
            Decision("block", Match("ip", "2001:DB8::1")),
            Decision("block", Match("ip", "2001:db8::2")),
            Decision("block", Match("asn", "AS64500")),
            Decision("throttle", Match("ua_pattern", "Slow")),
            Decision("allow", Match("ip", "192.0.2.9")),
        ]
    )
    desired = render_cloudflare(ds, guard_bots=False)
    assert desired.items == ("2001:db8::/64",)
    guard = 'http.request.uri.path ne "/robots.txt" and not (ip.src in {192.0.2.9})'
    assert [(r.ref, r.action, r.expression) for r in desired.rules] == [
        ("botguard:block-list", "block", f"{guard} and ip.src in $botguard_block"),
        ("botguard:block-asn-1", "block", f"{guard} and (ip.src.asnum in {{64500}})"),
        (
            "botguard:challenge-ua-1",
            "managed_challenge",
            f'{guard} and (lower(http.user_agent) contains "slow")',
        ),
    ]
    assert all(r.description.startswith("botguard:") for r in desired.rules)


def test_renderer_protocol_view_is_deterministic() -> None:
    """The RuleFile view satisfies the Renderer protocol and is byte-stable (ASCII JSON)."""
    from botguard.render import Renderer
    from botguard.render.cloudflare import CloudflareRenderer

    renderer = CloudflareRenderer()
    assert isinstance(renderer, Renderer)
    ds = DecisionSet.of(
        [Decision("block", Match("ua_pattern", 'Ünïcode"Bot')), Decision("block", Match("ip", "::1"))]
    )
    (a,), (b,) = renderer.render(ds), renderer.render(ds)
    assert a == b and a.name == "cloudflare.json" and a.text.isascii()


def test_bad_asn_is_reported_not_rendered() -> None:
    ds = DecisionSet.of([Decision("block", Match("asn", "AS64500")), Decision("block", Match("asn", "AS6x"))])
    desired = render_cloudflare(ds)
    assert [r.expression.endswith("(ip.src.asnum in {64500})") for r in desired.rules] == [True]
    assert [(x.value, x.reason) for x in desired.left_out] == [("AS6x", "not an AS number")]


def test_lower_folds_ascii_only_like_cloudflare() -> None:
    """Cloudflare's lower() changes A-Z only: a literal lowered by Python would never match `Ü`."""
    from tests.deploy.cloudflare.rules_lang import Request, evaluate, parse

    desired = render_cloudflare(DecisionSet.of([Decision("block", Match("ua_pattern", "ÜberBot"))]))
    (rule,) = desired.rules
    assert rule.expression.endswith('(lower(http.user_agent) contains "Überbot")')
    assert evaluate(parse(rule.expression), Request("Mozilla/5.0 ÜBERBOT/1.0"))


def test_exact_agent_is_eq_and_a_long_one_its_prefix() -> None:
    """An exact agent compares whole (`;` as a substring would block every browser); one longer
    than MAX_UA keeps its first MAX_UA characters as a substring."""
    from botguard.render.cloudflare import MAX_UA

    long = "L" * (MAX_UA + 10)
    ds = DecisionSet.of(
        [Decision("block", Match("ua_exact", ";")), Decision("block", Match("ua_exact", long))]
    )
    (rule,) = render_cloudflare(ds).rules
    assert rule.expression.endswith(
        f'(lower(http.user_agent) eq ";" or lower(http.user_agent) contains "{"l" * MAX_UA}")'
    )


def test_allowlisted_client_pair_is_ip_and_exact_agent() -> None:
    from botguard.config import AllowedClient, Allowlist
    from botguard.decide import allow_decisions

    ds = DecisionSet.of([Decision("block", Match("ua_pattern", "curl")),
                         *allow_decisions(Allowlist(clients=(AllowedClient("192.0.2.1", "curl/8.0"),)))])  # fmt: skip
    (rule,) = render_cloudflare(ds).rules
    assert 'not ((ip.src eq 192.0.2.1 and lower(http.user_agent) eq "curl/8.0"))' in rule.expression


def test_addresses_no_rule_may_name_are_left_out_and_reported() -> None:
    """The list and the rules never carry a zone id, garbage or a log-derived loopback address (each is
    reported as left out); the user's listed loopback address still guards, addresses are canonical."""
    from tests.render.conftest import address_set

    desired = render_cloudflare(address_set())
    assert desired.items == ("198.51.100.0/24", "203.0.113.9", "2001:db8::/64")
    assert sorted((x.value, x.reason) for x in desired.left_out) == [
        ("127.0.0.5", "loopback address"), ("::1", "loopback address"), ("fe80::/48", "link-local network"),
        ("fe80::1%eth0", "IPv6 zone id"), ("not-an-ip", "not an IP address"),
    ]  # fmt: skip
    text = desired.to_json()
    assert "ip.src in {127.0.0.1}" in text and "(ip.src eq ::1 and " in text
    assert "fe80" not in text.split('"left_out"')[0] and "127.0.0.5" not in text.split('"left_out"')[0]


def test_challenges_become_managed_challenge_rules_by_agent_address_and_pair() -> None:
    """A challenge is Cloudflare's own managed challenge (no serve there), by user agent, address
    and exact (address, agent) pair, behind the same guard as the blocks; throttles join them."""
    from tests.deploy.cloudflare.rules_lang import Request, evaluate, parse

    ds = DecisionSet.of(
        [
            Decision("challenge", Match("ua_exact", "Mozilla/5.0 Evil")),
            Decision("throttle", Match("ua_pattern", "Slow")),
            Decision("challenge", Match("ip", "198.51.100.7")),
            Decision("challenge", Match("client", "Mozilla/5.0 Chrome/131", "198.51.100.9")),
        ]
    )
    rules = render_cloudflare(ds).rules
    assert [(r.ref, r.action) for r in rules] == [
        ("botguard:challenge-ua-1", "managed_challenge"),
        ("botguard:challenge-ip-1", "managed_challenge"),
        ("botguard:challenge-client-1", "managed_challenge"),
    ]
    trees = [parse(r.expression) for r in rules]

    def challenged(req: Request) -> bool:
        return any(evaluate(t, req) for t in trees)

    assert challenged(Request("Mozilla/5.0 Chrome/131", ip="198.51.100.7"))
    assert challenged(Request("Mozilla/5.0 Chrome/131", ip="198.51.100.9"))
    assert not challenged(Request("Mozilla/5.0 Firefox/146", ip="198.51.100.9"))  # the person at that NAT
    assert challenged(Request("mozilla/5.0 evil", ip="192.0.2.1"))
    assert not challenged(Request("Mozilla/5.0 Evil", ip="198.51.100.7", path="/robots.txt"))
    assert not challenged(Request("Mozilla/5.0 Evil", ip="198.51.100.7", bot=True))


def test_an_allowlisted_agent_with_a_tab_still_exempts_its_client() -> None:
    """A tab inside an agent is valid HTTP, and the allowlist always wins: an agent no Cloudflare
    string can hold is exempted by the parts around the tab (every one of them in the agent) and
    reported, never dropped from the guard in silence (nginx and Apache exempt it as written)."""
    from tests.deploy.cloudflare.rules_lang import Request, evaluate, parse

    allowed = "My\tMonitor/1.0 (+https://status.example)"
    ds = DecisionSet.of([
        Decision("allow", Match("ua_pattern", allowed.lower())),
        Decision("allow", Match("client", "Pinger\t2", "203.0.113.9")),
        Decision("challenge", Match("cidr", "203.0.113.0/24")),
        Decision("block", Match("ua_pattern", "monitor/1.0")),
    ])  # fmt: skip
    desired = render_cloudflare(ds)
    trees = [parse(r.expression) for r in desired.rules]
    hit = [
        r.ref
        for r, t in zip(desired.rules, trees, strict=True)
        if evaluate(t, Request(allowed, ip="203.0.113.7"))
    ]
    assert hit == [], hit
    assert not any(evaluate(t, Request("Pinger\t2", ip="203.0.113.9")) for t in trees)
    assert any(evaluate(t, Request("Pinger\t2", ip="203.0.113.10")) for t in trees)  # that address only
    other = Request("Mozilla/5.0 monitor/1.0", ip="203.0.113.7")
    assert [r.ref for r, t in zip(desired.rules, trees, strict=True) if evaluate(t, other)] == [
        "botguard:block-ua-1", "botguard:challenge-ip-1"]  # fmt: skip
    assert {x.value for x in desired.left_out} == {allowed.lower()[:60], "Pinger\t2"}, desired.left_out
