"""Which network an IP belongs to: AS number, organisation, country, hosting provider.

Two sources behind one small interface (:class:`AsnDb`): the bundled offline table
(rules/asn/ip-asn.parquet, built by tools/build_asn_table.py from the CC-BY-4.0 data of
RouteViews, NRO and DB-IP) and the user's own MaxMind GeoLite2/GeoIP2 databases read with
``maxminddb``. The bundled table is a sorted polars frame rather than an .mmdb: a whole column
of IPs is looked up with one ``join_asof``, it loads in ~0.1 s, is 4.6 MB on disk, and
needs no MaxMind DB writer to build.
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
TABLE = "asn/ip-asn.parquet"


@runtime_checkable
class AsnDb(Protocol):
    """Maps IPs to their network; unknown IPs are simply absent from the result."""

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]: ...


def hosting_asns(path: Path | None = None) -> frozenset[int]:
    """ASNs of cloud and hosting providers (rules/hosting.yaml)."""
    source = path or resources.files("botguard.rules").joinpath("hosting.yaml")
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    return frozenset(int(asn) for asn in (data.get("asns") or {}))


def _keys(ips: Iterable[str]) -> pl.DataFrame:
    """Distinct valid IPs with their Int128 key, sorted for join_asof."""
    pairs = [(ip, key - SHIFT) for ip in set(ips) if (key := ip_key(ip)) is not None]
    return pl.DataFrame(
        {"ip": [p[0] for p in pairs], "key": [p[1] for p in pairs]}, schema={"ip": pl.String, "key": pl.Int128}
    ).sort("key")


class RangeTableAsn:
    """The bundled offline IP-to-ASN table (no country: the source data has none)."""

    def __init__(self, path: Path | None = None, hosting: frozenset[int] | None = None) -> None:
        source = path or resources.files("botguard.rules").joinpath(TABLE)
        try:
            with source.open("rb") as handle:
                self._table = pl.read_parquet(handle).sort("first")
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"cannot read the ASN table: {exc}", Location(str(source))) from None
        self._hosting = hosting_asns() if hosting is None else hosting

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]:
        keys = _keys(ips)
        if keys.height == 0:
            return {}
        found = keys.join_asof(self._table, left_on="key", right_on="first", strategy="backward").filter(
            pl.col("key") <= pl.col("last")
        )
        return {
            ip: AsnInfo(asn=int(asn), as_org=org, hosting=int(asn) in self._hosting)
            for ip, asn, org in found.select("ip", "asn", "as_org").iter_rows()
        }


def _open_mmdb(path: str, what: str) -> Any:
    import maxminddb

    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"cannot open {what} database: {exc}", Location(path)) from None


class MaxMindDb:
    """The user's MaxMind databases: a GeoLite2/GeoIP2 ASN file and/or a Country file."""

    def __init__(
        self, asn_path: str | None = None, country_path: str | None = None, hosting: frozenset[int] | None = None
    ) -> None:
        self._asn = _open_mmdb(asn_path, "ASN") if asn_path else None
        self._country = _open_mmdb(country_path, "country") if country_path else None
        self._hosting = hosting_asns() if hosting is None else hosting

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]:
        found = {}
        for ip in set(ips):
            info = self._lookup(ip)
            if info is not None:
                found[ip] = info
        return found

    def _lookup(self, ip: str) -> AsnInfo | None:
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
        return AsnInfo(asn=asn, as_org=org, country=country, hosting=None if asn is None else asn in self._hosting)


class LayeredAsn:
    """Several sources, earlier ones winning field by field (user's MaxMind over bundled)."""

    def __init__(self, *sources: AsnDb) -> None:
        self._sources = sources

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AsnInfo]:
        wanted = list(set(ips))
        merged: dict[str, AsnInfo] = {}
        for source in reversed(self._sources):
            for ip, info in source.lookup_many(wanted).items():
                old = merged.get(ip, AsnInfo())
                merged[ip] = AsnInfo(
                    asn=info.asn if info.asn is not None else old.asn,
                    as_org=info.as_org if info.asn is not None else old.as_org,
                    country=info.country or old.country,
                    hosting=info.hosting if info.hosting is not None else old.hosting,
                )
        return merged
