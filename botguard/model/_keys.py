"""A call's requests as columns, the per-agent and per-address facts behind them, and feature parts.

Why columns: the learner's work per request must be a few array operations, not a Python walk;
what needs Python (parsing an agent, looking up an address, templating a path, robots.txt) is
done once per *distinct* agent, address, path or behaviour, memoised across calls.

Why parts: a request's features are its actor's (UA and network keys, fixed per actor), its
path's, and the rest (bucketed behaviour, method, status class, crosses). Each part is one
memoised tuple, so a request is three small ids, a part's weight sum is computed once per scorer
publication, and masking a label source's slots is memoised per part. The parts equal
``FeatureExtractor.featurize`` of :func:`event` (the tests check it request by request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from botguard.catalog import Catalog, Crawler
from botguard.decide.agents import candidate_tokens
from botguard.identity.asn import AsnDb, lookup_many
from botguard.judge.aggregate import robots_token
from botguard.model.features import METHODS, FeatureExtractor, ip_prefixes, referer_kind
from botguard.model.labels import BROWSER

#: Entries a memo may hold before it starts over (distinct agents, addresses, buckets).
MEMO_LIMIT = 100_000
#: The request columns the stream reads (botguard.logs.records.REQUEST_SCHEMA names).
COLUMNS = (
    "ip", "time", "method", "target", "protocol", "valid_request", "status", "referer", "user_agent", "host",
)  # fmt: skip
FeaturePart = tuple[str, ...]
#: Method -> small id: 0 none, then the standard ones, then anything else ("OTHER").
METHOD_IDS = {m: i for i, m in enumerate(METHODS, start=1)}
_OTHER_METHOD = len(METHODS) + 1


@dataclass(frozen=True, slots=True)
class UaInfo:
    """What a user agent says, worked out once per distinct agent."""

    crawler: Crawler | None
    browser: bool
    token: str  # robots.txt agent token (judge's rule)
    sig_keys: tuple[str, ...]  # its UA signature keys (safe tokens only)
    family: str
    ua_keys: FeaturePart  # its UA feature keys
    family_id: int  # small int per family (packed into behaviour memo keys)


@dataclass(frozen=True, slots=True)
class IpInfo:
    """What a client address says, worked out once per distinct address."""

    asn: int | None
    hosting: bool | None
    net: str  # /24 or /48 as a key value
    net_key: str  # "ip24=..." / "ip6_48=..."
    actor_ip: str  # the IP, or its /64 for IPv6
    network: Any  # AsnInfo for the identity decision
    ip_keys: FeaturePart  # its network feature keys
    asn_id: int  # small int per AS number (0: none)


@dataclass(frozen=True, slots=True)
class ActorCtx:
    """What never changes for an actor: its feature keys (UA + network) and its signature keys."""

    static: FeaturePart
    sig_keys: tuple[str, ...]
    family: str


def actor_context(uinfo: UaInfo, iinfo: IpInfo) -> ActorCtx:
    """An actor's fixed keys from its agent's and address's facts."""
    cross = (f"asn={iinfo.asn}", f"ua_fam_x_asn={uinfo.family}|{iinfo.asn}") if iinfo.asn is not None else ()
    return ActorCtx(uinfo.ua_keys + iinfo.ip_keys, (*uinfo.sig_keys, iinfo.net_key, *cross), uinfo.family)


@dataclass(slots=True)
class Call:
    """One ``observe()`` call's requests as columns; ``ua_of``/``ip_of`` index the distinct values."""

    n: int
    t: np.ndarray  # stream time, epoch seconds, never decreasing
    ip: list[str]
    ua: list[str]
    target: list[str | None]
    referer: list[str | None]
    method: list[str | None]
    protocol: list[str | None]
    host: list[str | None]
    status: np.ndarray  # int64, -1 when not logged
    valid: np.ndarray  # bool: an HTTP request line with a target
    has_ref: np.ndarray  # bool
    ua_of: np.ndarray  # int64 index into uas / ua_infos
    uas: list[str]
    ua_infos: list[UaInfo]
    ip_of: np.ndarray
    ips: list[str]
    ip_infos: list[IpInfo]


def _intern(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Index of each value into the list of distinct values (first-seen order)."""
    ids: dict[str, int] = {}
    index = [ids.setdefault(v, len(ids)) for v in values]
    return np.fromiter(index, dtype=np.int64, count=len(index)), list(ids)


class RequestKeys:
    """Memoised facts per distinct agent (:attr:`ua`) and address (:attr:`ip`), and feature parts."""

    def __init__(self, features: FeatureExtractor, catalog: Catalog, asn_db: AsnDb | None) -> None:
        self.features = features
        self.catalog = catalog
        self.asn_db = asn_db
        self.ua: dict[str, UaInfo] = {}
        self.ip: dict[str, IpInfo] = {}
        self._families: dict[str, int] = {}
        self._asns: dict[int | None, int] = {None: 0}
        self._rest: dict[int, FeaturePart] = {}

    # -- a call's columns ------------------------------------------------------------------
    def call(self, requests: pl.DataFrame, clock: float) -> Call:
        """The call's columns, with its distinct agents' and addresses' facts prepared.

        Times never go backwards (a line written late keeps the stream clock): the stream is
        replayed in the order given, so a scan and a watch of the same file agree.
        """
        self._maybe_reset()
        frame = requests.select(COLUMNS)
        t = frame.get_column("time").dt.epoch("us").to_numpy().astype(np.float64) / 1e6
        t = np.nan_to_num(t, nan=clock)
        np.maximum.accumulate(np.maximum(t, clock), out=t)
        col = frame.get_column
        ip = [v or "" for v in col("ip").to_list()]
        ua = [v or "" for v in col("user_agent").to_list()]
        target = col("target").to_list()
        referer = col("referer").to_list()
        valid = col("valid_request").fill_null(False).to_numpy() & col("target").is_not_null().to_numpy()
        ua_of, uas = _intern(ua)
        ip_of, ips = _intern(ip)
        self._prepare(uas, ips)
        return Call(
            n=frame.height, t=t, ip=ip, ua=ua, target=target, referer=referer,
            method=col("method").to_list(), protocol=col("protocol").to_list(), host=col("host").to_list(),
            status=col("status").cast(pl.Int64).fill_null(-1).to_numpy(),
            valid=valid, has_ref=np.fromiter((bool(r) and r != "-" for r in referer), bool, frame.height),
            ua_of=ua_of, uas=uas, ua_infos=[self.ua[v] for v in uas],
            ip_of=ip_of, ips=ips, ip_infos=[self.ip[v] for v in ips],
        )  # fmt: skip

    def _maybe_reset(self) -> None:
        """Start the memos over when one is full (the small ids packed into behaviour keys must
        stay below their bit widths, and agents' and addresses' facts carry those ids)."""
        if (
            len(self.ua) > MEMO_LIMIT or len(self.ip) > MEMO_LIMIT or len(self._rest) > MEMO_LIMIT
            or len(self._families) >= 0xFFFF or len(self._asns) >= 0xFFFF
        ):  # fmt: skip
            for memo in (self.ua, self.ip, self._rest, self._families):
                memo.clear()
            self._asns = {None: 0}

    def _prepare(self, agents: Sequence[str], ips: Sequence[str]) -> None:
        """UA and IP facts for new distinct values (catalogue and ASN in one pass each)."""
        new_ua = [ua for ua in agents if ua not in self.ua]
        if new_ua:
            for ua, crawler in zip(new_ua, self.catalog.classify_many(new_ua)):
                self.ua[ua] = self._ua_info(ua, crawler)
        new_ip = [ip for ip in ips if ip not in self.ip]
        if new_ip:
            networks = lookup_many(self.asn_db, new_ip) if self.asn_db is not None else {}
            for ip in new_ip:
                self.ip[ip] = self._ip_info(ip, networks.get(ip), self.features._ip(ip))

    def agent_keys(self, ua: str) -> UaInfo:
        """An agent's feature keys and family alone, without its catalogue entry or signature keys
        (a scan's clients pass: the judge has already read the rest)."""
        fam, keys = self.features._ua(ua)
        family_id = self._families.setdefault(fam, len(self._families))
        return UaInfo(None, bool(BROWSER.match(ua)), "", (), fam, keys, family_id)

    def _ua_info(self, ua: str, crawler: Crawler | None) -> UaInfo:
        bare = self.agent_keys(ua)
        # only the agent's safe product names carry signature stats ("chrome", "the", "x22" never)
        names = candidate_tokens(ua)
        sig = tuple(
            k for k in bare.ua_keys if k.startswith(("ua_tok=", "ua_fam=")) and k.partition("=")[2] in names
        )
        return replace(bare, crawler=crawler, token=robots_token(crawler), sig_keys=sig)

    def _ip_info(self, ip: str, network: Any, keys: FeaturePart) -> IpInfo:
        prefixes = ip_prefixes(ip)
        if "ip24" in prefixes:
            net, slot, actor_ip = prefixes["ip24"], "ip24", ip
        elif "ip6_48" in prefixes:
            net, slot, actor_ip = prefixes["ip6_48"], "ip6_48", prefixes["ip6_64"]
        else:
            net, slot, actor_ip = "none", "ip24", ip
        asn = network.asn if network is not None else None
        hosting = network.hosting if network is not None else None
        asn_id = self._asns.setdefault(asn, len(self._asns))
        return IpInfo(asn, hosting, net, f"{slot}={net}", actor_ip, network, keys, asn_id)

    # -- parts -----------------------------------------------------------------------------
    def paths(self, targets: list[str | None], honeypot: np.ndarray) -> tuple[np.ndarray, list[FeaturePart]]:
        """Each request's path part (an index into the returned parts); honeypot paths get none."""
        path = self.features._path
        parts: dict[str | None, int] = {}
        index = [
            parts.setdefault(None if trap else (tgt or "/"), len(parts))
            for tgt, trap in zip(targets, honeypot)
        ]
        return np.fromiter(index, np.int64, len(index)), [() if p is None else path(p) for p in parts]

    def rests(self, call: Call, behaviour: dict[str, np.ndarray]) -> tuple[np.ndarray, list[FeaturePart]]:
        """Each request's behaviour part: bucketed inputs packed into one int, featurized once each."""
        method = np.fromiter(
            (
                (METHOD_IDS.get(m) or METHOD_IDS.get(m.upper(), _OTHER_METHOD)) if m else 0
                for m in call.method
            ),
            np.int64,
            call.n,
        )
        fam = np.array([u.family_id for u in call.ua_infos], dtype=np.int64)[call.ua_of]
        asn = np.array([i.asn_id for i in call.ip_infos], dtype=np.int64)[call.ip_of]
        host = np.array([2 if i.hosting is None else int(i.hosting) for i in call.ip_infos], np.int64)[
            call.ip_of
        ]
        status = np.where(call.status < 0, 511, call.status // 100)  # a 16-bit status: class <= 327
        ref_kind = behaviour.get("ref_kind", 0)  # 4 bits (features.REFERER_KINDS); 0: not known
        packed = (
            fam << 47 | asn << 31 | ref_kind << 27 | method << 23 | status << 14 | host << 12
            | behaviour["robots"] << 11 | behaviour["ref"] << 10 | np.minimum(behaviour["rate_b"], 31) << 5
            | behaviour["asset_b"] << 2 | behaviour["inv_b"]
        )  # fmt: skip
        distinct, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        parts = []
        for key, row in zip(distinct.tolist(), first.tolist()):
            part = self._rest.get(key)
            if part is None:
                part = self._rest[key] = self._rest_part(call, behaviour, row)
            parts.append(part)
        return inverse.reshape(-1), parts

    def _rest_part(self, call: Call, behaviour: dict[str, np.ndarray], i: int) -> FeaturePart:
        """Featurize the request without its network and with a fixed path, less the UA and path keys."""
        uinfo, iinfo = call.ua_infos[call.ua_of[i]], call.ip_infos[call.ip_of[i]]
        full = self.features.featurize({**event(call, i, behaviour, uinfo, iinfo), "ip": "", "path": "/"})
        skip = {*uinfo.ua_keys, *self.features._path("/")}
        return tuple(k for k in full if k not in skip)


def event(
    call: Call, i: int, behaviour: dict[str, np.ndarray], uinfo: UaInfo, iinfo: IpInfo
) -> dict[str, Any]:
    """The feature extractor's view of request ``i`` plus its actor's behaviour up to it."""
    return {
        "ip": call.ip[i],
        "user_agent": call.ua[i],
        "path": call.target[i] or "/",
        "method": call.method[i],
        "status": None if call.status[i] < 0 else int(call.status[i]),
        "asn": iinfo.asn,
        "hosting": iinfo.hosting,
        "robots_fetched": bool(behaviour["robots"][i]),
        "rate": float(behaviour["rate"][i]),
        "asset_ratio": float(behaviour["asset_ratio"][i]),
        "has_referer": bool(call.has_ref[i]),
        "invalid_share": float(behaviour["invalid_share"][i]),
        "referer_kind": int(behaviour["ref_kind"][i]) if "ref_kind" in behaviour else 0,
    }


def referer_kinds(
    call: Call, entry: np.ndarray, follows: np.ndarray, parse: Callable[[str | None], tuple[str, str]],
    own_since: Callable[[str], float],
) -> np.ndarray:  # fmt: skip
    """Each request's referer kind (:func:`~botguard.model.features.referer_kind`), worked out once
    per distinct (referer, own, entry, follows): ``entry`` marks its session's first request,
    ``follows`` one whose referer is a page its client requested, ``parse`` gives a referer's
    (host, page), and a host is the site's for a request made after ``own_since(host)``."""
    ref_of, refs = _intern([r if r and r != "-" else "" for r in call.referer])
    hosts = [parse(r)[0] if r else None for r in refs]
    own = np.array([own_since(h) if h else np.inf for h in hosts])[ref_of] < call.t
    packed = ref_of << 3 | own.astype(np.int64) << 2 | entry.astype(np.int64) << 1 | follows.astype(np.int64)
    distinct, inverse = np.unique(packed, return_inverse=True)
    codes = [
        referer_kind(hosts[key >> 3], bool(key & 4), bool(key & 2), bool(key & 1))
        for key in distinct.tolist()
    ]
    return np.asarray(codes, dtype=np.int64)[inverse.reshape(-1)]
