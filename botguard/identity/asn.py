"""Which network an IP belongs to: AS number, organisation, country, hosting provider.

Two sources behind one small interface (:class:`AsnDb`): the bundled offline table
(rules/asn/, built by tools/build_asn_table.py from the CC-BY-4.0 data of RouteViews, NRO and
DB-IP) and the user's own MaxMind GeoLite2/GeoIP2 databases read with ``maxminddb``. The
bundled table is a sorted polars frame rather than an .mmdb: a whole column of IPs is looked
up with one ``join_asof`` (IPv4 keys computed column-wise too), it loads in ~0.1 s, takes
3.4 MB on disk, and needs no MaxMind DB writer to build.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl
import yaml

from botguard.errors import ConfigError, InputError, Location
from botguard.identity._ip import ip_key
from botguard.identity.records import AsnInfo

SHIFT = 1 << 127  # keys are stored as Int128: IPv6 int - 2**127 (see tools/build_asn_table.py)
TABLE = "asn/ip-asn.parquet"  # first, last (Int128 keys), asn
NAMES = "asn/asn-org.parquet"  # asn -> as_org

#: One row per IP found: the frame every AsnDb returns.
NETWORK_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(), "asn": pl.Int64(), "as_org": pl.String(), "country": pl.String(),
    "hosting": pl.Boolean(),
}  # fmt: skip

_V4 = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"


@runtime_checkable
class AsnDb(Protocol):
    """Maps IPs to their network; unknown IPs are absent from the result (NETWORK_SCHEMA)."""

    def lookup_frame(self, ips: pl.Series) -> pl.DataFrame: ...


def lookup_many(db: AsnDb, ips: Iterable[str]) -> dict[str, AsnInfo]:
    """The records for a few IPs (``botguard verify``, identity decisions)."""
    frame = db.lookup_frame(pl.Series("ip", list(ips), dtype=pl.String))
    return {row.pop("ip"): AsnInfo(**row) for row in frame.rows(named=True)}


def hosting_asns(path: Path | None = None) -> frozenset[int]:
    """ASNs of cloud and hosting providers (rules/hosting.yaml)."""
    source = path or resources.files("botguard.rules").joinpath("hosting.yaml")
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    return frozenset(int(asn) for asn in (data.get("asns") or {}))


def _keys(ips: pl.Series) -> pl.DataFrame:
    """Distinct valid IPs with their Int128 key, sorted for join_asof.

    Dotted-quad IPv4 (nearly every IP in a log) is computed column-wise; the rest in Python.
    """
    distinct = ips.drop_nulls().unique().to_frame("ip")
    octets = distinct.select("ip", parts=pl.col("ip").str.extract_groups(_V4))
    fields = [pl.col("parts").struct.field(str(i)).cast(pl.Int64) for i in range(1, 5)]
    v4 = octets.filter(pl.col("parts").struct.field("1").is_not_null()).select(
        "ip",
        key=pl.when(pl.max_horizontal(fields) <= 255).then(
            (fields[0] * 16777216 + fields[1] * 65536 + fields[2] * 256 + fields[3]).cast(pl.Int128)
            + pl.lit((0xFFFF << 32) - SHIFT, pl.Int128)
        ),
    )
    others = octets.filter(pl.col("parts").struct.field("1").is_null()).get_column("ip").to_list()
    pairs = [(ip, key - SHIFT) for ip in others if (key := ip_key(ip)) is not None]
    rest = pl.DataFrame(pairs, schema={"ip": pl.String, "key": pl.Int128}, orient="row")
    return pl.concat([v4.drop_nulls("key"), rest]).sort("key")


def _read(source: Any) -> pl.DataFrame:
    try:
        with source.open("rb") as handle:
            return pl.read_parquet(handle)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"cannot read the ASN table: {exc}", Location(str(source))) from None


def _sorted(table: pl.DataFrame) -> pl.DataFrame:
    """The table sorted by its first address: it is on disk, and checking costs 1 ms where
    sorting 515k 128-bit keys again cost 100 ms of every scan's start."""
    if table.get_column("first").is_sorted():
        return table.with_columns(pl.col("first").set_sorted())
    return table.sort("first")


class RangeTableAsn:
    """The bundled offline IP-to-ASN table (no country: the source data has none)."""

    def __init__(self, root: Path | None = None, hosting: frozenset[int] | None = None) -> None:
        base = root or resources.files("botguard.rules")
        self._table = _sorted(_read(base.joinpath(TABLE)))
        self._names = _read(base.joinpath(NAMES))
        self._hosting = sorted(hosting_asns() if hosting is None else hosting)

    def lookup_frame(self, ips: pl.Series) -> pl.DataFrame:
        keys = _keys(ips)
        found = (
            keys.join_asof(self._table, left_on="key", right_on="first", strategy="backward")
            .filter(pl.col("key") <= pl.col("last"))
            .join(self._names, on="asn", how="left")
        )
        return found.select(
            "ip",
            pl.col("asn").cast(pl.Int64),
            "as_org",
            pl.lit(None, pl.String).alias("country"),
            pl.col("asn").is_in(self._hosting).alias("hosting"),
        )

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]:
        return lookup_many(self, ips)


def _open_mmdb(path: str, what: str) -> Any:
    import maxminddb

    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"cannot open {what} database: {exc}", Location(path)) from None


class MaxMindDb:
    """The user's MaxMind databases: a GeoLite2/GeoIP2 ASN file and/or a Country file."""

    def __init__(
        self,
        asn_path: str | None = None,
        country_path: str | None = None,
        hosting: frozenset[int] | None = None,
    ) -> None:
        self._asn = _open_mmdb(asn_path, "ASN") if asn_path else None
        self._country = _open_mmdb(country_path, "country") if country_path else None
        self._hosting = hosting_asns() if hosting is None else hosting

    def lookup_frame(self, ips: pl.Series) -> pl.DataFrame:
        rows = [row for ip in ips.drop_nulls().unique().to_list() if (row := self._lookup(ip)) is not None]
        return pl.DataFrame(rows, schema=NETWORK_SCHEMA, orient="row")

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]:
        return lookup_many(self, ips)

    def _lookup(self, ip: str) -> tuple[str, int | None, str | None, str | None, bool | None] | None:
        asn = org = country = None
        try:
            if self._asn is not None and (record := self._asn.get(ip)):
                asn = record.get("autonomous_system_number")
                org = record.get("autonomous_system_organization")
            if self._country is not None and (record := self._country.get(ip)):
                country = (record.get("country") or record.get("registered_country") or {}).get("iso_code")
        except ValueError:  # not an IP address
            return None
        if asn is None and country is None:
            return None
        return ip, asn, org, country, None if asn is None else asn in self._hosting


class LayeredAsn:
    """Several sources, earlier ones winning field by field (user's MaxMind over bundled)."""

    def __init__(self, *sources: AsnDb) -> None:
        self._sources = sources

    def lookup_frame(self, ips: pl.Series) -> pl.DataFrame:
        merged = pl.DataFrame(schema=NETWORK_SCHEMA)
        for source in self._sources:
            frame = source.lookup_frame(ips)
            merged = merged.join(frame, on="ip", how="full", coalesce=True, suffix="_next").select(
                "ip",
                pl.coalesce("asn", "asn_next").alias("asn"),
                pl.when(pl.col("asn").is_not_null()).then(pl.col("as_org")).otherwise(pl.col("as_org_next")).alias("as_org"),
                pl.coalesce("country", "country_next").alias("country"),
                pl.when(pl.col("asn").is_not_null()).then(pl.col("hosting")).otherwise(pl.col("hosting_next")).alias("hosting"),
            )  # fmt: skip
        return merged.cast(NETWORK_SCHEMA)  # type: ignore[arg-type]

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]:
        return lookup_many(self, ips)
