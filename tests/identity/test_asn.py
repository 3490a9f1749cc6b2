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


def _parquet_tables() -> tuple[object, object]:
    """The shipped table as read from its Parquet files, no cache involved."""
    from importlib import resources

    from botguard.identity import asn

    base = resources.files("botguard.rules")
    return asn._read(base.joinpath(asn.TABLE)), asn._read(base.joinpath(asn.NAMES))


@pytest.fixture
def asn_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "botguard"


def test_bundled_table_is_read_from_its_arrow_copy(asn_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from botguard.identity import asn

    RangeTableAsn()
    (entry,) = asn_cache.glob("asn-*")
    assert {p.name for p in entry.iterdir()} >= {"ranges.arrow", "names.arrow"}

    def no_parquet(_source: object) -> None:
        raise AssertionError("the Parquet files were read although the Arrow copy is whole")

    table, names = _parquet_tables()
    monkeypatch.setattr(asn, "_read", no_parquet)
    again = RangeTableAsn()
    assert again._table.equals(table) and again._names.equals(names)  # type: ignore[attr-defined]


@pytest.mark.parametrize("damage", ["truncate", "zeros", "garbage", "swap", "check"])
def test_damaged_arrow_copy_is_rebuilt(asn_cache: Path, damage: str) -> None:
    RangeTableAsn()
    (entry,) = asn_cache.glob("asn-*")
    ranges, names = entry / "ranges.arrow", entry / "names.arrow"
    whole = ranges.read_bytes()
    middle = len(whole) // 2
    if damage == "truncate":
        ranges.write_bytes(whole[:middle])
    elif damage == "zeros":  # a block lost in a crash: the file keeps its size
        ranges.write_bytes(whole[:middle] + bytes(65536) + whole[middle + 65536 :])
    elif damage == "garbage":
        ranges.write_bytes(whole[:middle] + bytes(range(256)) * 256 + whole[middle + 65536 :])
    elif damage == "swap":  # two whole, valid files in each other's place
        ranges.write_bytes(names.read_bytes())
        names.write_bytes(whole)
    else:
        (entry / "ranges.check").write_text("[]")
    rebuilt = RangeTableAsn()
    table, org_names = _parquet_tables()
    assert rebuilt._table.equals(table) and rebuilt._names.equals(org_names)  # type: ignore[attr-defined]
    assert rebuilt.lookup_many(["66.249.66.1"])["66.249.66.1"].asn == 15169
    assert (entry / "ranges.arrow").read_bytes() == whole  # written again, whole
