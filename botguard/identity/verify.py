"""`botguard verify IP [--ua UA]` as a function: gather the evidence and describe it.

The same wiring as the scan (:func:`identity_sources`), so verify and scan always agree on
one IP; the text lists every fact a person needs to check the conclusion by hand.
"""

from __future__ import annotations

from contextlib import ExitStack

from botguard.catalog import load_catalog
from botguard.config import IdentitySettings
from botguard.errors import UsageError
from botguard.identity._ip import ip_key
from botguard.identity.enrich import IdentityEvidence, explain
from botguard.identity.setup import identity_sources
from botguard.state import State

#: CC-BY-4.0 requires naming the sources wherever their results are shown.
ASN_CREDIT = "IP to ASN data: RouteViews (routeviews.org), NRO (nro.net), DB-IP.com (CC-BY-4.0)"


def verify_ip(
    ip: str,
    user_agent: str | None,
    settings: IdentitySettings,
    *,
    dns: bool = True,
    state_path: str | None = None,
) -> IdentityEvidence:
    """Identity evidence for one IP and the crawler its user agent claims (if given)."""
    if ip_key(ip) is None:
        raise UsageError(f"not an IP address: {ip!r}")
    crawler = load_catalog().classify(user_agent) if user_agent else None
    with ExitStack() as stack:
        state = stack.enter_context(State(state_path)) if dns and settings.dns else None
        sources = identity_sources(settings, dns=dns, state=state, state_path=state_path)
        return explain(ip, crawler, dns=sources.dns, asn_db=sources.asn_db, ranges=sources.ranges)


def evidence_lines(evidence: IdentityEvidence, user_agent: str | None) -> list[str]:
    """The evidence as aligned "label  value" lines."""
    crawler, check = evidence.crawler, evidence.check
    if crawler is not None:
        claim = f"{crawler.name} ({crawler.operator})"
    else:
        claim = "no known crawler" if user_agent else "none (give --ua to check a claim)"
    how = f" ({check.verified_by})" if check.verified_by else ""
    lines = [("ip", evidence.ip), ("claim", claim), ("identity", f"{check.identity}{how}")]
    if crawler is not None and crawler.verification is not None:
        lists = ", ".join(crawler.verification.ip_ranges) or "none"
        domains = ", ".join(crawler.verification.rdns_suffixes) or "none"
        lines.append(("checks", f"published ranges: {lists}; rDNS domains: {domains}"))
    lines.extend(
        ("range", f"{m.list}: {m.network} (from {m.source}, {m.date})") for m in evidence.ranges or ()
    )
    if not evidence.ranges:
        lines.append(("range", "in no published crawler range"))
    lines.extend(_dns_lines(evidence))
    lines.append(("network", _network(evidence)))
    width = max(len(label) for label, _ in lines)
    out = [f"{label.ljust(width)}  {value}" for label, value in lines]
    if evidence.network is not None and evidence.network.asn is not None:
        out.append(ASN_CREDIT)
    return out


def _dns_lines(evidence: IdentityEvidence) -> list[tuple[str, str]]:
    reverse = evidence.reverse
    if reverse is None:
        return [("rdns", "not asked (--no-dns or identity.dns: false)")]
    if reverse.status == "nxdomain":
        return [("rdns", "no PTR record (NXDOMAIN)")]
    if reverse.status == "error" and not reverse.names:
        return [("rdns", f"inconclusive: {reverse.detail}")]
    lines = [("ptr", ", ".join(reverse.names) or "none")]
    forward = ", ".join(reverse.forward) or "no address"
    confirmed = ", ".join(reverse.confirmed)
    lines.append(
        ("forward", f"{forward} ({'confirms ' + confirmed if confirmed else 'does not contain the IP'})")
    )
    if reverse.status == "error":
        lines.append(("rdns", f"inconclusive: {reverse.detail}"))
    return lines


def _network(evidence: IdentityEvidence) -> str:
    network = evidence.network
    if network is None:
        return "unknown (no ASN data for this IP)"
    asn = f"AS{network.asn} {network.as_org or ''}".strip() if network.asn is not None else "AS unknown"
    hosting = {True: "hosting/cloud network", False: "not a known hosting network", None: "hosting unknown"}
    return f"{asn}; country {network.country or 'unknown'}; {hosting[network.hosting]}"
