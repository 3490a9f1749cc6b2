"""Forward-confirmed reverse DNS (FCrDNS), bounded so that a scan never hangs on DNS.

PTR lookup of the IP, then A/AAAA lookups of every PTR name; a name is *confirmed* when its
addresses contain the IP again (anyone can set a PTR record to "crawl.googlebot.com" for their
own IP, but only Google can make googlebot.com resolve back to it). Which suffixes an operator
uses is checked later (:meth:`ReverseDns.matches`), so one lookup serves every claimed crawler
and the cache is per IP.

Bounds: each query has a timeout, at most ``concurrency`` lookups run at once, and
:meth:`DnsResolver.reverse_many` stops waiting after ``budget`` seconds; whatever is unanswered
is an inconclusive ``error`` (never cached, never proof of spoofing on its own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from botguard.identity.cache import DnsCache
from botguard.identity.records import ReverseDns

if TYPE_CHECKING:
    import dns.resolver


def _dns() -> ModuleType:
    """dnspython, imported on the first lookup: a scan that looks nothing up never pays for it."""
    import dns.exception
    import dns.rdatatype
    import dns.resolver
    import dns.reversename

    return dns


def _absent() -> tuple[type[Exception], ...]:
    """Answers that prove a name or PTR record does not exist (cacheable, conclusive)."""
    resolver = _dns().resolver
    return (resolver.NXDOMAIN, resolver.NoAnswer)


@dataclass(frozen=True, slots=True)
class DnsOptions:
    """Resolver settings; nameservers None means the system's (/etc/resolv.conf)."""

    nameservers: tuple[str, ...] | None = None
    port: int = 53
    timeout: float = 2.0  # seconds per lookup (PTR or A/AAAA), retries included
    concurrency: int = 32
    budget: float = 20.0  # seconds for a whole batch of IPs


class DnsResolver:
    """FCrDNS lookups with a concurrency limit, timeouts, an overall budget and a TTL cache."""

    def __init__(self, options: DnsOptions = DnsOptions(), cache: DnsCache | None = None) -> None:
        self.options = options
        self.cache = cache
        self._made: dns.resolver.Resolver | None = None

    @property
    def _resolver(self) -> dns.resolver.Resolver:
        if self._made is None:
            self._made = self._make_resolver(self.options)
        return self._made

    @staticmethod
    def _make_resolver(options: DnsOptions) -> dns.resolver.Resolver:
        resolver = _dns().resolver.Resolver(configure=options.nameservers is None)
        if options.nameservers is not None:
            resolver.nameservers = list(options.nameservers)
        resolver.port = options.port
        resolver.timeout = options.timeout
        resolver.lifetime = options.timeout
        resolver.cache = None  # our own cache lives in the state database
        return resolver

    def reverse(self, ip: str) -> ReverseDns:
        """PTR names of ``ip`` and which of them resolve forward to it (one IP, uncached)."""
        dns = _dns()
        try:
            qname = dns.reversename.from_address(ip)
            ptr = self._resolver.resolve(qname, "PTR", raise_on_no_answer=True)
        except _absent():
            return ReverseDns(ip, "nxdomain", detail="no PTR record")
        except (dns.exception.DNSException, ValueError) as exc:
            return ReverseDns(ip, "error", detail=f"PTR lookup failed: {_describe(exc)}")
        names = tuple(sorted({r.target.to_text() for r in ptr}))
        confirmed, forward, errors = [], set(), []
        wanted = ipaddress.ip_address(ip)
        for name in names:
            addresses, error = self._forward(name, "AAAA" if wanted.version == 6 else "A")
            forward.update(addresses)
            if error:
                errors.append(error)
            if any(ipaddress.ip_address(a) == wanted for a in addresses):
                confirmed.append(name)
        if not confirmed and errors:
            return ReverseDns(ip, "error", names, (), tuple(sorted(forward)), "; ".join(errors))
        return ReverseDns(ip, "ok", names, tuple(confirmed), tuple(sorted(forward)))

    def _forward(self, name: str, rdtype: str) -> tuple[list[str], str | None]:
        try:
            answer = self._resolver.resolve(name, rdtype, raise_on_no_answer=True)
        except _absent():
            return [], None
        except _dns().exception.DNSException as exc:
            return [], f"{rdtype} lookup of {name} failed: {_describe(exc)}"
        return [r.address for r in answer], None

    def reverse_many(self, ips: Iterable[str]) -> dict[str, ReverseDns]:
        """Reverse DNS of many IPs: cached answers first, the rest concurrently within the budget."""
        wanted = sorted(set(ips))
        found = self.cache.get_many(wanted) if self.cache is not None else {}
        missing = [ip for ip in wanted if ip not in found]
        if missing:
            fresh = self._lookup_all(missing)
            if self.cache is not None:
                self.cache.put_many([r for r in fresh.values() if r.status != "error"])
            found.update(fresh)
        return found

    def _lookup_all(self, ips: list[str]) -> dict[str, ReverseDns]:
        """Concurrent lookups until done, the budget is spent, or the resolver looks dead.

        Dead: the first ``concurrency`` answers were all errors (a firewalled or absent
        resolver would otherwise cost the whole budget); the rest are not asked.
        """
        _ = self._resolver  # built here, once, before the lookup threads share it
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.options.concurrency, len(ips))))
        futures = {pool.submit(self.reverse, ip): ip for ip in ips}
        reason = f"DNS budget of {self.options.budget:g} s exhausted"
        try:
            errors = 0
            for answered, future in enumerate(as_completed(futures, timeout=self.options.budget), start=1):
                errors += future.exception() is not None or future.result().status == "error"
                if errors == answered >= min(self.options.concurrency, len(ips)) and answered < len(ips):
                    reason = f"resolver not answering (first {answered} lookups failed)"
                    break
        except FuturesTimeout:
            pass
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        results = {}
        for future, ip in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                results[ip] = future.result()
            else:
                results[ip] = ReverseDns(ip, "error", detail=reason)
        return results


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _dns().exception.Timeout):
        return "timeout"
    return type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
