"""A request's feature keys in memoised parts, and the per-agent and per-address facts behind them.

Why parts: a request's features are its actor's (UA and network keys, fixed per actor), its
path's, and the rest (bucketed behaviour, method, status class, crosses). Each part is a
memoised tuple, so a request costs a few dict lookups (and masking a label source's slots can be
memoised per part object). The parts equal ``FeatureExtractor.featurize`` of :meth:`RequestKeys.event`
(the tests check it request by request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botguard.catalog import Catalog, Crawler
from botguard.decide.agents import candidate_tokens
from botguard.identity.asn import AsnDb, lookup_many
from botguard.judge.aggregate import robots_token
from botguard.model.features import FeatureExtractor, ip_prefixes, log2_bucket
from botguard.model.labels import BROWSER

if TYPE_CHECKING:
    from botguard.model._actors import Actor

#: A request's feature keys in parts: the actor's (UA and network), path, the rest (behaviour,
#: method, crosses). Each part is a memoised tuple, so masking is memoised per part object.
Parts = tuple[tuple[str, ...], ...]
#: Entries a memo may hold before it starts over (distinct agents, addresses, buckets).
MEMO_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class UaInfo:
    """What a user agent says, worked out once per distinct agent."""

    crawler: Crawler | None
    browser: bool
    token: str  # robots.txt agent token (judge's rule)
    sig_keys: tuple[str, ...]  # its UA signature keys (safe tokens only)
    family: str
    ua_keys: tuple[str, ...]  # its UA feature keys


@dataclass(frozen=True, slots=True)
class IpInfo:
    """What a client address says, worked out once per distinct address."""

    asn: int | None
    hosting: bool | None
    net: str  # /24 or /48 as a key value
    net_key: str  # "ip24=..." / "ip6_48=..."
    actor_ip: str  # the IP, or its /64 for IPv6
    network: Any  # AsnInfo for the identity decision
    ip_keys: tuple[str, ...]  # its network feature keys


@dataclass(frozen=True, slots=True)
class ActorCtx:
    """What never changes for an actor: its UA and network feature keys, its signature keys."""

    ua_keys: tuple[str, ...]
    ip_keys: tuple[str, ...]
    sig_keys: tuple[str, ...]
    family: str
    static: tuple[str, ...] = ()  # ua_keys + ip_keys: the keys every request of the actor has


def actor_context(uinfo: UaInfo, iinfo: IpInfo) -> ActorCtx:
    """An actor's fixed keys from its agent's and address's facts."""
    cross = (f"asn={iinfo.asn}", f"ua_fam_x_asn={uinfo.family}|{iinfo.asn}") if iinfo.asn is not None else ()
    return ActorCtx(
        uinfo.ua_keys,
        iinfo.ip_keys,
        (*uinfo.sig_keys, iinfo.net_key, *cross),
        uinfo.family,
        uinfo.ua_keys + iinfo.ip_keys,
    )


class RequestKeys:
    """Memoised facts per distinct agent (:attr:`ua`) and address (:attr:`ip`), and each request's keys."""

    def __init__(self, features: FeatureExtractor, catalog: Catalog, asn_db: AsnDb | None) -> None:
        self.features = features
        self.catalog = catalog
        self.asn_db = asn_db
        self.ua: dict[str, UaInfo] = {}
        self.ip: dict[str, IpInfo] = {}
        self._rest: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def prepare(self, agents: Sequence[str | None], ips: Sequence[str | None]) -> None:
        """UA and IP facts for a batch's new distinct values (catalogue and ASN in one pass each)."""
        if len(self.ua) > MEMO_LIMIT:
            self.ua.clear()
        new_ua = list({ua or "": None for ua in agents if (ua or "") not in self.ua})
        if new_ua:
            for ua, crawler in zip(new_ua, self.catalog.classify_many(new_ua)):
                self.ua[ua] = self._ua_info(ua, crawler)
        if len(self.ip) > MEMO_LIMIT:
            self.ip.clear()
        new_ip = list({ip or "": None for ip in ips if (ip or "") not in self.ip})
        if new_ip:
            networks = lookup_many(self.asn_db, new_ip) if self.asn_db is not None else {}
            for ip in new_ip:
                self.ip[ip] = self._ip_info(ip, networks.get(ip), self.features._ip(ip))

    def _ua_info(self, ua: str, crawler: Crawler | None) -> UaInfo:
        fam, keys = self.features._ua(ua)
        # only the agent's safe product names carry signature stats ("chrome", "the", "x22" never)
        names = candidate_tokens(ua)
        sig = tuple(k for k in keys if k.startswith(("ua_tok=", "ua_fam=")) and k.partition("=")[2] in names)
        return UaInfo(crawler, bool(BROWSER.match(ua)), robots_token(crawler), sig, fam, keys)

    @staticmethod
    def _ip_info(ip: str, network: Any, keys: tuple[str, ...]) -> IpInfo:
        prefixes = ip_prefixes(ip)
        if "ip24" in prefixes:
            net, slot, actor_ip = prefixes["ip24"], "ip24", ip
        elif "ip6_48" in prefixes:
            net, slot, actor_ip = prefixes["ip6_48"], "ip6_48", prefixes["ip6_64"]
        else:
            net, slot, actor_ip = "none", "ip24", ip
        asn = network.asn if network is not None else None
        hosting = network.hosting if network is not None else None
        return IpInfo(asn, hosting, net, f"{slot}={net}", actor_ip, network, keys)

    def parts(
        self,
        actor: Actor,
        ua: str,
        ip: str,
        iinfo: IpInfo,
        cols: dict[str, list[Any]],
        i: int,
        target: str | None,
        honeypot: bool,
    ) -> Parts:
        """The request's features, in parts; equal to ``FeatureExtractor.featurize`` of :meth:`event`.

        The behaviour part is memoised on its bucketed inputs (a few thousand distinct ones), so
        the per-request cost is a tuple and a dict lookup; honeypot paths give no path keys.
        """
        ev, ctx = actor.evidence, actor.ctx
        n = ev.requests
        referer = cols["referer"][i]
        has_referer = bool(referer and referer != "-")
        status = cols["status"][i]
        rate = 60.0 * n / max(ev.last - ev.first, 60.0)
        memo_key = (
            ctx.family,  # type: ignore[union-attr]
            iinfo.asn,
            iinfo.hosting,
            cols["method"][i],
            None if status is None else status // 100,
            bool(actor.robots_first),
            log2_bucket(rate),
            min(int(ev.assets / n * 5), 4),
            has_referer,
            min(int(ev.invalid / n * 4), 3),
        )
        rest = self._rest.get(memo_key)
        if rest is None:
            # featurize without the network and with a fixed path, then drop the UA and path keys
            full = self.features.featurize(
                {**self.event(actor, ua, ip, iinfo, cols, i, target), "ip": "", "path": "/"}
            )
            skip = {*ctx.ua_keys, *self.features._path("/")}  # type: ignore[union-attr]
            if len(self._rest) > MEMO_LIMIT:
                self._rest.clear()
            rest = self._rest[memo_key] = tuple(k for k in full if k not in skip)
        path = () if honeypot else self.features._path(target or "/")
        return ctx.static, path, rest  # type: ignore[union-attr]

    @staticmethod
    def event(
        actor: Actor, ua: str, ip: str, iinfo: IpInfo, cols: dict[str, list[Any]], i: int, target: str | None
    ) -> dict[str, Any]:
        """The feature extractor's view of one request plus its actor's behaviour up to now."""
        ev = actor.evidence
        n = ev.requests
        referer = cols["referer"][i]
        return {
            "ip": ip,
            "user_agent": ua,
            "path": target or "/",
            "method": cols["method"][i],
            "status": cols["status"][i],
            "asn": iinfo.asn,
            "hosting": iinfo.hosting,
            "robots_fetched": bool(actor.robots_first),
            "rate": 60.0 * n / max(ev.last - ev.first, 60.0),
            "asset_ratio": ev.assets / n,
            "has_referer": bool(referer and referer != "-"),
            "invalid_share": ev.invalid / n,
        }
