"""Identity per (ip, crawler): verified, spoofed, unverifiable, unknown, with network facts."""

from __future__ import annotations

from datetime import UTC

import polars as pl
import pytest

from botguard.catalog import load_catalog
from botguard.identity import check_claim
from botguard.identity.asn import RangeTableAsn
from botguard.identity.dns import DnsResolver
from botguard.identity.enrich import enrich, explain
from botguard.identity.records import IDENTITY_SCHEMA, ReverseDns


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog()


def _rows(frame: pl.DataFrame) -> dict[tuple[str, str | None], dict]:  # type: ignore[type-arg]
    return {(r["ip"], r["crawler"]): r for r in frame.rows(named=True)}


PAIRS = pl.DataFrame(
    {
        "ip": ["66.249.66.1", "66.249.66.1", "203.0.113.50", "203.0.113.7", "1.2.3.4", "2001:db8::1",
               "192.0.2.55", "198.51.100.9", "1.2.3.4", "20.171.207.3", "20.171.207.3"],
        "crawler": ["Googlebot", "Googlebot", "Googlebot", "Googlebot", "Googlebot", "PetalBot",
                    "PetalBot", "PetalBot", None, "GPTBot", "CCBot"],
    }
)  # fmt: skip


def test_enrich_with_dns(catalog, resolver: DnsResolver) -> None:  # type: ignore[no-untyped-def]
    """Each rule of the precedence, against the local DNS server."""
    frame = enrich(PAIRS, catalog, dns=resolver, asn_db=RangeTableAsn())
    assert frame.schema == pl.Schema(IDENTITY_SCHEMA)
    assert frame.height == 10  # one row per distinct pair
    rows = _rows(frame)
    expected = {
        ("66.249.66.1", "Googlebot"): ("verified", True, "published range"),
        ("203.0.113.50", "Googlebot"): ("verified", True, "reverse DNS"),  # outside ranges, FCrDNS proves it
        ("203.0.113.7", "Googlebot"): ("spoofed", False, "range/rDNS"),  # forged PTR
        ("1.2.3.4", "Googlebot"): ("spoofed", False, "range/rDNS"),  # NXDOMAIN
        ("2001:db8::1", "PetalBot"): ("verified", True, "reverse DNS"),
        ("192.0.2.55", "PetalBot"): ("spoofed", False, "rDNS"),  # no PTR: proven not Huawei
        ("198.51.100.9", "PetalBot"): ("unverifiable", None, None),  # timeout: inconclusive
        ("1.2.3.4", None): ("unknown", None, None),
        ("20.171.207.3", "GPTBot"): ("verified", True, "published range"),
        ("20.171.207.3", "CCBot"): ("unverifiable", None, None),  # Common Crawl publishes nothing
    }
    assert {k: (r["identity"], r["verified"], r["verified_by"]) for k, r in rows.items()} == expected
    assert rows[("66.249.66.1", "Googlebot")]["asn"] == 15169
    assert rows[("66.249.66.1", "Googlebot")]["as_org"] == "Google LLC"
    assert rows[("20.171.207.3", "GPTBot")]["hosting"] is True  # Microsoft Azure


def test_enrich_without_dns_relies_on_ranges(catalog) -> None:  # type: ignore[no-untyped-def]
    """With DNS off a range miss still proves spoofing; rDNS-only crawlers become unverifiable."""
    rows = _rows(enrich(PAIRS, catalog, dns=None, asn_db=None))
    assert rows[("66.249.66.1", "Googlebot")]["identity"] == "verified"
    assert rows[("203.0.113.50", "Googlebot")]["identity"] == "spoofed"
    assert rows[("203.0.113.50", "Googlebot")]["verified_by"] == "published range"
    assert rows[("2001:db8::1", "PetalBot")]["identity"] == "unverifiable"
    assert rows[("66.249.66.1", "Googlebot")]["asn"] is None


def test_enrich_asks_dns_only_when_ranges_do_not_decide(catalog, resolver: DnsResolver, dns_server) -> None:  # type: ignore[no-untyped-def]
    enrich(PAIRS, catalog, dns=resolver)
    assert dns_server.queries[("1.66.249.66.in-addr.arpa.", "PTR")] == 0  # in range: no DNS
    assert dns_server.queries[("3.207.171.20.in-addr.arpa.", "PTR")] == 0  # GPTBot: ranges only


def test_empty_and_unknown_crawler(catalog) -> None:  # type: ignore[no-untyped-def]
    empty = enrich(pl.DataFrame(schema={"ip": pl.String, "crawler": pl.String}), catalog)
    assert empty.height == 0 and empty.schema == pl.Schema(IDENTITY_SCHEMA)
    odd = enrich(pl.DataFrame({"ip": ["x"], "crawler": ["NoSuchBot"]}), catalog)
    assert odd.row(0, named=True)["identity"] == "unverifiable"


@pytest.mark.parametrize(
    ("status", "in_range", "expected"),
    [("error", False, "spoofed"), ("nxdomain", True, "verified"), (None, False, "spoofed")],
)
def test_decide_googlebot(catalog, status, in_range, expected) -> None:  # type: ignore[no-untyped-def]
    reverse = ReverseDns("203.0.113.1", status) if status else None
    assert check_claim(catalog.by_name("Googlebot"), in_range, reverse).identity == expected


def test_explain_gathers_all_evidence(catalog, resolver: DnsResolver) -> None:  # type: ignore[no-untyped-def]
    evidence = explain("66.249.66.1", catalog.by_name("Googlebot"), dns=resolver, asn_db=RangeTableAsn())
    assert evidence.check.identity == "verified"
    assert [m.list for m in evidence.ranges] == ["googlebot"]
    assert evidence.reverse is not None and evidence.reverse.confirmed
    assert evidence.network is not None and evidence.network.asn == 15169


def test_operator_own_network_is_never_spoofed(catalog) -> None:  # type: ignore[no-untyped-def]
    """A Googlebot claim from Google's own AS15169 outside today's list is unverifiable, not
    spoofed (lists are snapshots); from a cloud VM (hosting AS) it is spoofed."""
    pairs = pl.DataFrame({"ip": ["66.249.68.241", "34.16.0.1"], "crawler": ["Googlebot", "Googlebot"]})
    rows = _rows(enrich(pairs, catalog, asn_db=RangeTableAsn()))
    assert rows[("66.249.68.241", "Googlebot")]["identity"] == "unverifiable"
    assert rows[("66.249.68.241", "Googlebot")]["verified_by"] == "in the operator's own network AS15169"
    assert rows[("34.16.0.1", "Googlebot")]["identity"] == "spoofed"
    assert rows[("34.16.0.1", "Googlebot")]["hosting"] is True


def test_stale_claims_are_unverifiable(catalog) -> None:  # type: ignore[no-untyped-def]
    """Last seen more than max_age before the lists' date: no proof either way (unless in range)."""
    from datetime import datetime, timedelta

    old, new = datetime(2015, 5, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    pairs = pl.DataFrame(
        {
            "ip": ["1.2.3.4", "1.2.3.5", "66.249.66.1"],
            "crawler": ["Googlebot"] * 3,
            "last_seen": [old, new, old],
        }
    )
    rows = _rows(enrich(pairs, catalog, max_age=timedelta(days=365)))
    assert rows[("1.2.3.4", "Googlebot")]["identity"] == "unverifiable"
    assert rows[("1.2.3.5", "Googlebot")]["identity"] == "spoofed"
    assert rows[("66.249.66.1", "Googlebot")]["identity"] == "verified"


def test_many_pairs_with_leading_nulls(catalog) -> None:  # type: ignore[no-untyped-def]
    """Hundreds of unverifiable claims before a verified one: column types never come from
    guessing on the first rows (a regression: polars inferred null-only columns)."""
    ips = [f"198.18.{i // 256}.{i % 256}" for i in range(300)] + ["66.249.66.1", "1.2.3.4"]
    crawlers = ["CCBot"] * 300 + ["Googlebot", "Googlebot"]
    frame = enrich(pl.DataFrame({"ip": ips, "crawler": crawlers}), catalog, asn_db=RangeTableAsn())
    rows = _rows(frame)
    assert rows[("66.249.66.1", "Googlebot")]["verified"] is True
    assert rows[("1.2.3.4", "Googlebot")]["verified"] is False
    assert frame.filter(pl.col("crawler") == "CCBot").get_column("identity").unique().to_list() == [
        "unverifiable"
    ]
