"""ASN and country: the bundled offline table and the user's MaxMind databases."""

from __future__ import annotations

import ipaddress
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from botguard.errors import ConfigError
from botguard.identity import AsnDb
from botguard.identity._asntable import FILES, AsnArrays
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


def _parquet_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shipped table as read from its Parquet files, no cache involved."""
    from importlib import resources

    from botguard.identity import asn

    base = resources.files("botguard.rules")
    return asn._read(base.joinpath(asn.TABLE)), asn._read(base.joinpath(asn.NAMES))


def _same(arrays: AsnArrays, table: pl.DataFrame, names: pl.DataFrame) -> bool:
    """Whether ``arrays`` hold exactly the Parquet files' table and names."""
    from botguard.identity.asn import SHIFT

    wanted = AsnArrays.from_frames(table, names, SHIFT)
    return all(np.array_equal(getattr(arrays, name), getattr(wanted, name)) for name, _ in FILES)


@pytest.fixture
def asn_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "botguard"


def test_bundled_table_is_read_from_its_cached_copy(asn_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from botguard.identity import asn

    RangeTableAsn()
    (entry,) = asn_cache.glob("asn-*")
    assert {p.name for p in entry.iterdir()} >= {name for _, name in FILES}

    def no_parquet(_source: object) -> None:
        raise AssertionError("the Parquet files were read although the cached copy is whole")

    table, names = _parquet_tables()
    monkeypatch.setattr(asn, "_read", no_parquet)
    again = RangeTableAsn()
    assert _same(again._arrays, table, names)  # type: ignore[attr-defined]


@pytest.mark.parametrize("damage", ["truncate", "zeros", "garbage", "swap", "check"])
def test_damaged_cached_copy_is_rebuilt(asn_cache: Path, damage: str) -> None:
    RangeTableAsn()
    (entry,) = asn_cache.glob("asn-*")
    first, last = entry / "first.npy", entry / "last.npy"
    whole = first.read_bytes()
    middle = len(whole) // 2
    if damage == "truncate":
        first.write_bytes(whole[:middle])
    elif damage == "zeros":  # a block lost in a crash: the file keeps its size
        first.write_bytes(whole[:middle] + bytes(65536) + whole[middle + 65536 :])
    elif damage == "garbage":
        first.write_bytes(whole[:middle] + bytes(range(256)) * 256 + whole[middle + 65536 :])
    elif damage == "swap":  # two whole, valid files in each other's place
        first.write_bytes(last.read_bytes())
        last.write_bytes(whole)
    else:
        (entry / "check.json").write_text("[]")
    rebuilt = RangeTableAsn()
    table, org_names = _parquet_tables()
    assert _same(rebuilt._arrays, table, org_names)  # type: ignore[attr-defined]
    assert rebuilt.lookup_many(["66.249.66.1"])["66.249.66.1"].asn == 15169
    assert (entry / "first.npy").read_bytes() == whole  # written again, whole


def _asof_reference(ips: list[str]) -> pl.DataFrame:
    """What a backward ``join_asof`` of the Parquet table finds for ``ips`` (the lookup before
    the table became numpy arrays)."""
    from botguard.identity.asn import _keys

    table, names = _parquet_tables()
    return (
        _keys(pl.Series("ip", ips, dtype=pl.String))
        .join_asof(table.sort("first"), left_on="key", right_on="first", strategy="backward")
        .filter(pl.col("key") <= pl.col("last"))
        .join(names, on="asn", how="left")
        .select("ip", pl.col("asn").cast(pl.Int64), "as_org")
        .sort("ip")
    )


def test_a_lookup_finds_what_a_join_asof_of_the_parquet_table_finds(bundled: RangeTableAsn) -> None:
    """Addresses at each end of ranges and just outside them (the edges of a binary search),
    IPv4 and IPv6, and garbage: the same networks and names as the polars ``join_asof``."""
    table, _ = _parquet_tables()
    ips = [
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "junk",
        "1.2.3",
    ]
    for first, last in table.select("first", "last").gather_every(997).iter_rows():
        for key in (first - 1, first, first + 1, last - 1, last, last + 1):
            address = ipaddress.IPv6Address(key + (1 << 127))
            ips.append(str(address.ipv4_mapped or address))
    got = bundled.lookup_frame(pl.Series("ip", ips, dtype=pl.String)).select("ip", "asn", "as_org").sort("ip")
    wanted = _asof_reference(ips)
    assert got.height > len(ips) // 3  # most of them are in some range
    assert got.equals(wanted)


def test_kept_arrays_are_used_only_for_the_files_they_were_made_from(
    asn_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The resident server's copy (keep_bundled_asn) stands for the shipped files it was read
    for: another key (a shipped file changed since, other code) reads the cache again."""
    from botguard.identity import asn

    monkeypatch.setattr(asn, "_KEPT", {})
    monkeypatch.setattr(asn, "_KEPT_HOSTING", {})
    assert asn.keep_bundled_asn() is False  # nothing cached yet: the server never makes it
    RangeTableAsn()  # a scan makes the cached copy
    assert asn.keep_bundled_asn() is True
    (key,) = asn._KEPT
    kept = asn._KEPT[key]
    assert RangeTableAsn()._arrays is kept  # type: ignore[attr-defined]
    monkeypatch.setattr(asn, "_KEPT", {"another-key": kept})
    assert RangeTableAsn()._arrays is not kept  # type: ignore[attr-defined]
    monkeypatch.setattr(asn, "_KEPT", {key: kept})
    copy = tmp_path / "rules"
    shutil.copytree(Path(str(resources.files("botguard.rules"))) / "asn", copy / "asn")
    (copy / "hosting.yaml").write_text("asns: {}\n")
    assert RangeTableAsn(copy)._arrays is not kept  # type: ignore[attr-defined]  # other files
    assert len(asn._KEPT_HOSTING) == 1 and 16509 in hosting_asns()  # the shipped list, kept
    assert hosting_asns(copy / "hosting.yaml") == frozenset()  # another text is parsed
