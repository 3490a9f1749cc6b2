"""ASN and country: the bundled offline table and the user's MaxMind databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from botguard.errors import ConfigError
from botguard.identity import AsnDb
from botguard.identity.asn import LayeredAsn, MaxMindDb, RangeTableAsn, hosting_asns
from tests.helpers import TEST_DATA

MMDB = TEST_DATA / "mmdb"  # MaxMind's own test databases (tests/data/SOURCES.md)


@pytest.fixture(scope="module")
def bundled() -> RangeTableAsn:
    return RangeTableAsn()


@pytest.mark.parametrize(
    ("ip", "asn", "org"),
    [
        ("1.0.0.1", 13335, "Cloudflare, Inc."),
        ("66.249.66.1", 15169, "Google LLC"),
        ("::ffff:66.249.66.1", 15169, "Google LLC"),
        ("2001:4860:4801:10::5", 15169, "Google LLC"),
        (
            "215.0.0.1",
            721,
            "DoD Network Information Center",
        ),  # the clipped overlap resolves to the later range
        ("214.95.0.1", 749, "United States Department of Defense (DoD)"),
    ],
)
def test_bundled_table(bundled: RangeTableAsn, ip: str, asn: int, org: str) -> None:
    info = bundled.lookup_many([ip])[ip]
    assert (info.asn, info.as_org, info.country) == (asn, org, None)


def test_bundled_table_leaves_unknown_out(bundled: RangeTableAsn) -> None:
    """Private, reserved and garbage addresses are absent, not guessed."""
    assert bundled.lookup_many(["10.0.0.1", "127.0.0.1", "nonsense", "::1"]) == {}


def test_hosting_flag(bundled: RangeTableAsn) -> None:
    assert 16509 in hosting_asns()
    found = bundled.lookup_many(["3.5.1.1", "1.0.0.1"])
    assert found["3.5.1.1"].hosting is True  # AWS
    assert found["1.0.0.1"].hosting is False


def test_maxmind_test_databases() -> None:
    """GeoLite2 ASN and Country test files (MaxMind-DB test-data) are read with maxminddb."""
    db = MaxMindDb(str(MMDB / "GeoLite2-ASN-Test.mmdb"), str(MMDB / "GeoLite2-Country-Test.mmdb"))
    found = db.lookup_many(["1.128.0.1", "81.2.69.160", "not-an-ip", "10.0.0.1"])
    assert (found["1.128.0.1"].asn, found["1.128.0.1"].as_org) == (1221, "Telstra Pty Ltd")
    assert found["81.2.69.160"].country == "GB"
    assert "not-an-ip" not in found and "10.0.0.1" not in found


def test_layered_user_database_wins_and_bundled_fills_gaps(bundled: RangeTableAsn) -> None:
    layered = LayeredAsn(
        MaxMindDb(str(MMDB / "GeoLite2-ASN-Test.mmdb"), str(MMDB / "GeoLite2-Country-Test.mmdb")), bundled
    )
    found = layered.lookup_many(["1.128.0.1", "81.2.69.160", "66.249.66.1"])
    assert found["1.128.0.1"].asn == 1221
    assert found["81.2.69.160"].country == "GB" and found["81.2.69.160"].asn is not None  # asn from bundled
    assert found["66.249.66.1"].asn == 15169


def test_bad_database_path_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match="cannot open ASN database"):
        MaxMindDb(str(junk))


def test_sources_satisfy_the_protocol(bundled: RangeTableAsn) -> None:
    assert isinstance(bundled, AsnDb)
    assert isinstance(LayeredAsn(bundled), AsnDb)
