"""Which network an IP belongs to: AS number, organisation, country, hosting provider.

Two sources behind one small interface (:class:`AsnDb`): the bundled offline table
(rules/asn/, built by tools/build_asn_table.py from the CC-BY-4.0 data of RouteViews, NRO and
DB-IP) and the user's own MaxMind GeoLite2/GeoIP2 databases read with ``maxminddb``. The
bundled table is a sorted range table rather than an .mmdb: a whole column of IPs is looked up
with one binary search each (IPv4 keys computed column-wise), it takes 3.4 MB on disk as
Parquet, and needs no MaxMind DB writer to build. Each start reads it as numpy arrays from an
uncompressed copy in the user's cache (~20 MB, memory-mapped; its lengths, sampled rows and
order are checked on every read, and a copy that fails is made again from the Parquet files):
see :mod:`botguard.identity._asntable`.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from botguard.cache import CacheDamaged, cache_root, cached, source_key
from botguard.errors import ConfigError, InputError, Location
from botguard.identity import _asntable
from botguard.identity._asntable import AsnArrays, key_bytes
from botguard.identity._ip import ip_key
from botguard.identity.records import AsnInfo
from botguard.yamldata import safe_load

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
    text = source.read_text(encoding="utf-8")
    kept = _KEPT_HOSTING.get(text)
    if kept is not None:
        return kept
    data = safe_load(text) or {}
    return frozenset(int(asn) for asn in (data.get("asns") or {}))


#: The shipped hosting list as parsed, by its text, in a process that forks the commands that
#: use it (botguard daemon: :func:`keep_bundled_asn`; its YAML costs a scan ~3 ms). Empty in
#: every other process.
_KEPT_HOSTING: dict[str, frozenset[int]] = {}


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


def _arrays(base: Any) -> AsnArrays:
    """The range table and the organisation names as numpy arrays (:mod:`._asntable`); the
    shipped table from their copy in the user's cache (memory-mapped: read in ~1 ms where
    decompressing the Parquet files costs ~30-80 ms of every start), made from the Parquet
    files on first use; in a process the resident server forked, the server's copy."""

    def make() -> AsnArrays:
        return AsnArrays.from_frames(_sorted(_read(base.joinpath(TABLE))), _read(base.joinpath(NAMES)), SHIFT)

    if not isinstance(base, Path):  # shipped inside a zip: no file to key the copy by
        return make()
    key = _arrays_key(base)
    kept = _KEPT.get(key)
    if kept is not None:
        return kept
    return cached("asn", key, make, AsnArrays.write, AsnArrays.read)


def _arrays_key(base: Path) -> str:
    """What the arrays are made from: the shipped files (by :func:`_stamp`) and this code."""
    parts = [base / TABLE, base / NAMES, Path(__file__), Path(_asntable.__file__)]
    return source_key(data=[f"{np.__version__}".encode(), *(_stamp(path) for path in parts)])


#: The shipped table's arrays as read, by their key, in a process that forks the commands that
#: use them (botguard daemon: :func:`keep_bundled_asn`). Empty in every other process.
_KEPT: dict[str, AsnArrays] = {}


def keep_bundled_asn() -> bool:
    """Read the shipped table's arrays from the start-up cache now (numpy only: never a polars
    query), and the shipped hosting list, and keep them for the children this process forks:
    each child's scan then skips reading and checking them (~15 ms, ~4 ms of it the hosting
    list's YAML). A child finds them only under the key it works out itself (from the shipped
    files' metadata; the hosting list's text), so a changed file is read again. False when the
    cache holds no whole copy of the arrays yet (the first scan makes it: then ask again)."""
    base = resources.files("botguard.rules")
    if not isinstance(base, Path):
        return False
    hosting = base / "hosting.yaml"
    _KEPT_HOSTING[hosting.read_text(encoding="utf-8")] = hosting_asns(hosting)
    key = _arrays_key(base)
    if key in _KEPT:
        return True
    try:
        _KEPT[key] = AsnArrays.read(cache_root() / f"asn-{key}", mapped=False)
    except (OSError, CacheDamaged):
        return False
    return True


def _stamp(path: Path) -> bytes:
    """What identifies a shipped file's version without reading its megabytes: path, size, mtime."""
    info = path.stat()
    return f"{path}\0{info.st_size}\0{info.st_mtime_ns}".encode()


def _sorted(table: pl.DataFrame) -> pl.DataFrame:
    """The table sorted by its first address: it is on disk, and checking costs 1 ms where
    sorting 515k 128-bit keys again cost 100 ms."""
    if table.get_column("first").is_sorted():
        return table
    return table.sort("first")


class RangeTableAsn:
    """The bundled offline IP-to-ASN table (no country: the source data has none)."""

    def __init__(self, root: Path | None = None, hosting: frozenset[int] | None = None) -> None:
        self._arrays = _arrays(root or resources.files("botguard.rules"))
        self._hosting = frozenset(hosting_asns() if hosting is None else hosting)

    def lookup_frame(self, ips: pl.Series) -> pl.DataFrame:
        keys = _keys(ips)
        found, rows = self._arrays.lookup(key_bytes(keys.get_column("key"), SHIFT))
        numbers = self._arrays.asn[rows[found]]
        orgs, asns = self._arrays.orgs_of(numbers), numbers.tolist()
        return pl.DataFrame(
            {
                "ip": keys.get_column("ip").filter(pl.Series(found, dtype=pl.Boolean)),
                "asn": pl.Series(asns, dtype=pl.Int64),
                "as_org": pl.Series(orgs, dtype=pl.String),
                "country": pl.Series([None] * len(asns), dtype=pl.String),
                "hosting": pl.Series([asn in self._hosting for asn in asns], dtype=pl.Boolean),
            },
            schema=NETWORK_SCHEMA,
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
