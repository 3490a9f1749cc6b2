"""Build rules/asn/{ip-asn,asn-org}.parquet from the CC-BY-4.0 IP-to-ASN CSVs (../shared/data/asn).

The table is sorted by the first address of each range, addresses as one Int128 key space
(IPv4 as IPv4-mapped IPv6, shifted by -2**127 so that every IPv6 address fits a signed
128-bit integer), so a whole column of IPs is looked up with one polars ``join_asof``.
Organisation names go to a second table keyed by AS number (in this data each AS has exactly
one name): the range table loads about twice as fast without 515k strings.
Usage: python tools/build_asn_table.py [DATA_DIR] [OUT]
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import sys
from pathlib import Path

import polars as pl

SHIFT = 1 << 127
V4_MAPPED = 0xFFFF << 32


def _key(text: str) -> int:
    address = ipaddress.ip_address(text)
    value = int(address) | (V4_MAPPED if address.version == 4 else 0)
    return value - SHIFT


def build(data_dir: Path, out: Path) -> pl.DataFrame:
    firsts, lasts, asns, orgs = [], [], [], []
    for name in ("asn-ipv4.csv.gz", "asn-ipv6.csv.gz"):
        with gzip.open(data_dir / name, "rt", encoding="utf-8", newline="") as handle:
            for first, last, asn, org in csv.reader(handle):
                firsts.append(_key(first))
                lasts.append(_key(last))
                asns.append(int(asn))
                orgs.append(org or None)
    frame = pl.DataFrame(
        {"first": firsts, "last": lasts, "asn": asns, "as_org": orgs},
        schema={"first": pl.Int128, "last": pl.Int128, "asn": pl.UInt32, "as_org": pl.String},
    ).sort("first")
    # The merged upstream data has one overlap (DoD 214.95.0.0-215.0.255.255 vs 215.0.0.0/15's
    # start): the later, more specific range wins, the earlier one is clipped before it.
    frame = frame.with_columns(
        last=pl.min_horizontal("last", pl.col("first").shift(-1) - 1).fill_null(pl.col("last"))
    )
    overlaps = frame.filter(pl.col("first") <= pl.col("last").shift(1)).height
    if overlaps:
        raise SystemExit(f"{overlaps} overlapping ranges: the lookup needs disjoint ranges")
    names = frame.group_by("asn").agg(
        pl.col("as_org").drop_nulls().first(), pl.col("as_org").n_unique().alias("names")
    )
    if names.filter(pl.col("names") > 1).height:
        raise SystemExit("an AS number with several organisation names: the org table needs the range")
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.select("first", "last", "asn").write_parquet(
        out, compression="zstd", compression_level=19, statistics=False
    )
    names.select("asn", "as_org").sort("asn").write_parquet(
        out.with_name("asn-org.parquet"), compression="zstd", compression_level=19, statistics=False
    )
    return frame


if __name__ == "__main__":
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/asn"
    target = (
        Path(sys.argv[2])
        if len(sys.argv) > 2
        else Path(__file__).resolve().parents[1] / "rules/asn/ip-asn.parquet"
    )
    table = build(data, target)
    print(f"{table.height} ranges -> {target} ({target.stat().st_size} bytes)")
