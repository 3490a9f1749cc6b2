"""Credits a report must show (private)."""

from __future__ import annotations

from botguard.identity.verify import ASN_CREDIT
from botguard.judge.records import ScanResult


def asn_credit(result: ScanResult) -> str | None:
    """The CC-BY-4.0 credit for the IP-to-ASN data, when the report shows any ASN."""
    shown = result.clients.height > 0 and result.clients.get_column("asn").is_not_null().any()
    return ASN_CREDIT if shown else None
