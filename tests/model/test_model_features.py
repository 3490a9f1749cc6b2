"""Event → sparse features: exact answers per slot, masking, and robustness to junk."""

from __future__ import annotations

import random
import string
import time

import pytest

from botguard.model.features import (
    UA_SLOTS,
    FeatureExtractor,
    ip_prefixes,
    is_asset,
    path_template,
    ua_family,
    ua_tokens,
)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/products/desk-vintage-2111", "/products/desk-vintage-{n}"),
        ("/item/123?page=4", "/item/{n}"),
        ("/u/550e8400-e29b-41d4-a716-446655440000/edit", "/u/{id}/edit"),
        ("/blob/deadbeef0123abcd", "/blob/{id}"),
        ("/about", "/about"),
        ("/", "/"),
    ],
)
def test_path_template(path: str, template: str) -> None:
    """Digit runs become {n}, uuids and long hex ids {id}, and the query is dropped."""
    assert path_template(path) == template


@pytest.mark.parametrize(
    ("ua", "family"),
    [
        ("Mozilla/5.0 (compatible; NovaScrape/1.0)", "novascrape"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
            "chrome",
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0", "firefox"),
        ("python-requests/2.31.0", "python-requests"),
        ("curl/8.4.0", "curl"),
        ("", "empty"),
        ("-", "other"),
    ],
)
def test_ua_family(ua: str, family: str) -> None:
    """The family is the bot name, else the browser, else the first product token."""
    assert ua_family(ua) == family


def test_ua_tokens_drop_versions_and_boilerplate() -> None:
    """Tokens are lower-case words; version numbers and 'Mozilla/compatible' are dropped."""
    assert ua_tokens("Mozilla/5.0 (compatible; NovaScrape/1.0; +https://nova.example)") == [
        "novascrape",
        "nova.example",
    ]


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.7", {"ip24": "203.0.113", "ip16": "203.0"}),
        ("2001:db8:85a3::8a2e:370:7334", {"ip6_48": "2001:db8:85a3", "ip6_64": "2001:db8:85a3:0"}),
        ("2001:0db8:0001:0002:0003::1", {"ip6_48": "2001:db8:1", "ip6_64": "2001:db8:1:2"}),
        ("::1", {"ip6_48": "0:0:0", "ip6_64": "0:0:0:0"}),
        ("garbage", {}),
        ("", {}),
    ],
)
def test_ip_prefixes(ip: str, expected: dict[str, str]) -> None:
    """IPv4 gives /24 and /16, IPv6 /48 and /64; junk gives nothing (never raises)."""
    assert ip_prefixes(ip) == expected


def _event() -> dict[str, object]:
    return {
        "ip": "198.51.100.9",
        "user_agent": "Mozilla/5.0 (compatible; NovaScrape/1.0)",
        "path": "/catalog/42.html",
        "method": "get",
        "status": 404,
        "asn": 16509,
        "hosting": "hosting",
        "robots_fetched": False,
        "robots_violated": True,
        "rate": 300.0,
        "asset_ratio": 0.0,
    }


def test_featurize_covers_every_slot() -> None:
    """A full event yields UA, network, request, behaviour and cross keys."""
    x = FeatureExtractor().featurize(_event())
    expected = {
        "ua_fam=novascrape",
        "ua_tok=novascrape",
        "ip24=198.51.100",
        "ip16=198.51",
        "asn=16509",
        "asn_type=hosting",
        "path_tpl=/catalog/{n}.html",
        "path_p1=catalog",
        "ext=html",
        "method=GET",
        "status_cls=4xx",
        "robots=never",
        "robots_violated=1",
        "rate_b=8",
        "asset_b=0",
        "ua_fam_x_host=novascrape|hosting",
        "ua_fam_x_asn=novascrape|16509",
    }
    assert expected <= set(x) and set(x.values()) == {1.0}


def test_masking_drops_whole_slots() -> None:
    """Masked slots (a label source's own evidence) never appear in the features."""
    x = FeatureExtractor().featurize(_event(), masked=UA_SLOTS | {"robots_violated"})
    assert not [k for k in x if k.partition("=")[0] in UA_SLOTS | {"robots_violated"}]
    assert "ip24=198.51.100" in x


def test_featurize_never_raises_on_junk() -> None:
    """Missing or malformed fields give fewer features, not an exception; the input is untouched."""
    fx = FeatureExtractor()
    for event in ({}, {"ip": None, "status": "abc", "path": ""}, {"user_agent": "\x00\xff" * 50, "rate": 0}):
        before = dict(event)
        x = fx.featurize(event)
        assert "status_cls=none" in x and "path_tpl=/" in x
        assert event == before


def test_ua_memo_is_per_instance_and_bounded() -> None:
    """Two extractors share no state; the memo gives the same answer as a fresh parse."""
    a, b = FeatureExtractor(), FeatureExtractor()
    ev = _event()
    assert a.featurize(ev) == a.featurize(ev) == b.featurize(ev)
    assert b._ua_memo is not a._ua_memo


def test_is_asset() -> None:
    """Stylesheets, scripts, images and fonts are assets; pages are not."""
    assert is_asset("/static/app.css?v=3") and is_asset("/img/logo.PNG")
    assert not is_asset("/products/desk") and not is_asset("/robots.txt")


def test_repeated_keys_are_one_string_object() -> None:
    """Equal keys from different events are the same object, so table lookups match by identity."""
    fx = FeatureExtractor()
    a = fx.featurize({**_event(), "ip": "198.51.100.9", "path": "/a/1"})
    b = fx.featurize({**_event(), "ip": "198.51.100.77", "path": "/a/2", "rate": 300.0})
    shared = set(a) & set(b)
    assert "ip24=198.51.100" in shared and "path_tpl=/a/{n}" in shared
    canon_a = {k: k for k in a}
    assert all(canon_a[k] is next(kb for kb in b if kb == k) for k in shared)


def test_config_names_exactly_the_slots_the_extractor_makes() -> None:
    """Config validates `model.slots` against FEATURE_SLOTS (it never imports the model): every
    slot the extractor makes, masks or the learner adds is there, and nothing else."""
    from botguard.config import FEATURE_SLOTS
    from botguard.model.features import PATH_SLOTS
    from botguard.model.learner import BIAS

    extractor = FeatureExtractor()
    events = [
        {
            "ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (compatible; NovaScrape/1.0)", "path": "/a/b.css",
            "method": "GET", "status": 200, "asn": 64500, "hosting": True, "robots_fetched": True,
            "robots_violated": True, "rate": 12.0, "asset_ratio": 0.5, "has_referer": True, "invalid_share": 0.1,
            "referer_kind": 4,
        },
        # the scan's client pass: whether it sent referers, not their kind (``ref``)
        {"ip": "2001:db8:85a3::8a2e:370:7334", "user_agent": "curl/8.4.0", "path": "/", "has_referer": False},
    ]  # fmt: skip
    made = {key.partition("=")[0] for event in events for key in extractor.featurize(event)}
    made.add(BIAS.partition("=")[0])
    assert made == FEATURE_SLOTS
    assert UA_SLOTS | PATH_SLOTS <= FEATURE_SLOTS  # what label sources mask


def test_ua_family_of_a_huge_agent_takes_no_time() -> None:
    """A log line may hold a 60 KB agent: the family regexes read only its start, so their
    time stays flat (they backtrack quadratically: two such agents took over a minute)."""
    rng = random.Random(3)
    agents = [
        "Mozilla/5.0 " + "".join(rng.choice(string.ascii_letters) for _ in range(60_000)) for _ in range(2)
    ]
    started = time.process_time()
    families = [ua_family(agent) for agent in [*agents, "x" * 600 + " FooBot/1.0"]]
    assert time.process_time() - started < 5.0
    assert families == ["mozilla", "mozilla", "other"]  # a name past the first 512 characters is not read
    assert (
        ua_family("Mozilla/5.0 (compatible; FooBot/1.0; +http://foo.example/bot)" + "x" * 60_000) == "foobot"
    )
