"""Signature statistics and rule candidates: from per-request scores to block rules a person can review.

Why signatures: a score says "this request looks like a crawler"; a rule needs something a web
server can match (a UA substring, a CIDR, an AS number) that covers the crawler's *next* clients
too. Each scored request updates the stats of its signature keys (UA tokens and family, /24 or
IPv6 /48, AS number, UA family × AS). A key becomes a candidate only when the evidence is strong
and nobody good is behind it:

- support: at least ``min_requests`` requests from at least ``min_ips`` distinct IPs (a key
  whose IPs all sit in one /24 needs ``min_requests_single_net``); a UA key, whose match is a
  name the agent gives itself as a bot's (see below), needs ``min_ips_named``: the deploy stage
  already blocks such a bot by that name from one blocked client, and a name shared by a second
  address is a campaign's, while a network key must show it spans many clients;
- the Wilson lower bound of its share of high-scoring requests (p > threshold) over its recent
  requests is at least ``lcb`` (recent: counts decay with a half-life of ``window`` requests, and
  only requests scored while the scorer had a weight for the key count: one scored before the
  model knew the key says nothing about it);
- no request from a verified good bot or a welcome service ever (:func:`welcome_agents`: a
  catalogue crawler of a category people rely on, such as an uptime monitor or a feed reader,
  that no label calls unwanted; a whole AS or /24 is throttled or blocked for every client in it,
  and a monitor shares its hosting AS with scrapers); human-like requests (from clients labelled
  human, or unlabelled browsers loading page assets) under ``max_human_share``;
- not allowlisted (config allowlist user agents / networks), not inside a published crawler range;
- the match is safe: a UA token must be a product name of every agent it was seen in (log
  escapes decoded; the name of a name/version pair, a URL host or a contact domain) that
  :func:`botguard.decide.safety.safe_ua_token` accepts (never a word, a version, a platform
  token or a token of a browser or good-bot agent such as "mozilla", "chrome", "safari"); a UA
  family × AS cross has no single-match form and is never proposed;
- one UA candidate per agent: of the UA keys seen with the same agents (a family's name, URL
  host and contact domain are all keys), only the first proposed is listed, the most specific
  (longest) among those proposed together.

Counts are aggregated per micro-batch (one dict update per distinct key, not per request).
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from botguard.addresses import Network
from botguard.catalog import Catalog
from botguard.config import Policy
from botguard.decide.agents import candidate_tokens
from botguard.model.labels import POSITIVE
from botguard.model.records import RuleCandidate
from botguard.model.table import StringTable

#: Slots whose keys carry signature statistics.
SIGNATURE_SLOTS: tuple[str, ...] = ("ua_tok", "ua_fam", "ip24", "ip6_48", "asn", "ua_fam_x_asn")
_Z = 1.96  # 95% two-sided normal quantile for the Wilson bound
Explain = Callable[[Sequence[Mapping[str, float]]], list[tuple[str, float]]]

#: Catalogue categories whose crawlers serve the site's people or owner (search, archives, uptime
#: and health checks, feed readers, link previews, assistants fetching for a person): no candidate
#: may cover one unless the policy blocks or monitors its category. Not ``library`` (curl,
#: HTTP libraries, headless browsers), ``scanner`` or ``other`` (generic patterns): scrapers
#: send those agents themselves.
WELCOME_CATEGORIES = frozenset(
    {
        "search-engine",
        "ai-search",
        "ai-assistant",
        "seo",
        "archiver",
        "monitor",
        "social-preview",
        "feed-reader",
    }
)


def welcome_agents(catalog: Catalog, policy: Policy) -> Callable[[str], bool]:
    """Whether a user agent names a welcome service (see :data:`WELCOME_CATEGORIES`), memoised.

    A scraper sending a monitor's agent from a network only spares that network from a
    candidate (its clients are still judged and raised one by one): erring towards sparing.
    """
    refused = frozenset(policy.block_categories) | frozenset(policy.monitor_categories)
    welcome = WELCOME_CATEGORIES - refused
    known: dict[str, bool] = {}

    def spared(agent: str) -> bool:
        found = known.get(agent)
        if found is None:
            crawler = catalog.classify(agent) if agent else None
            found = known[agent] = crawler is not None and crawler.category in welcome
        return found

    return spared


def wilson_lower(successes: float, n: float, z: float = _Z) -> float:
    """Wilson score lower bound of a proportion (0 when there is no data).

    >>> round(wilson_lower(200, 200), 3), round(wilson_lower(190, 200), 3)
    (0.981, 0.91)
    """
    if n <= 0:
        return 0.0
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


@dataclass(frozen=True, slots=True)
class CandidateRules:
    """When a signature becomes a rule candidate (defaults: the notes' §2 thresholds)."""

    threshold: float = 0.9
    lcb: float = 0.95
    min_requests: int = 200
    min_ips: int = 3
    min_ips_named: int = 2
    min_requests_single_net: int = 500
    max_human_share: float = 0.001
    window: float = 100.0  # half-life, in the key's own requests, of the high-score share
    ttl: float = 86400.0  # seconds without a request after which a key's stats are dropped
    max_ips: int = 64  # distinct IPs remembered per key (enough to tell "at least min_ips")
    samples: int = 8  # recent requests kept per key for the explanation
    allow_agents: tuple[str, ...] = ()  # lower-cased allowlisted UA substrings
    allow_networks: tuple[Network, ...] = ()


@dataclass(slots=True)
class SignatureStats:
    """Statistics of one signature key (see the module docstring)."""

    first_seen: float
    last_seen: float
    requests: int = 0
    recent_n: float = 0.0
    recent_high: float = 0.0
    recent_p: float = 0.0
    ips: set[str] = field(default_factory=set)
    nets: set[str] = field(default_factory=set)
    verified: int = 0
    human: int = 0  # human-like requests (see add)
    labels: dict[str, int] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)
    samples: deque[Mapping[str, float]] = field(default_factory=lambda: deque(maxlen=8))
    proposed_at: float | None = None
    requests_to_candidate: int | None = None
    welcome: int = 0  # requests from welcome services (see welcome_agents)

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _SCALARS}
        out.update(
            ips=sorted(self.ips),
            nets=sorted(self.nets),
            agents=sorted(self.agents),
            labels=self.labels,
            samples=[dict(x) for x in self.samples],
        )
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], samples: int) -> SignatureStats:
        stats = cls(**{name: data[name] for name in _SCALARS if name in data or name != "welcome"})
        stats.ips, stats.nets, stats.agents = set(data["ips"]), set(data["nets"]), set(data["agents"])
        stats.labels = dict(data["labels"])
        stats.samples = deque(data["samples"], maxlen=samples)
        return stats


@dataclass(slots=True)
class SignatureGroup:
    """One micro-batch's counts for a group of requests sharing signature keys (one actor's)."""

    keys: tuple[str, ...]
    n: int = 0
    high: int = 0
    psum: float = 0.0
    ips: set[str] = field(default_factory=set)
    nets: set[str] = field(default_factory=set)
    labels: dict[str, int] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)
    x: Mapping[str, float] | None = None
    human: int = 0

    def see(self, ip: str, net: str, agent: str, label: str | None, humanlike: bool, max_ips: int) -> None:
        """Count one request's client facts (its score and features are the caller's to fold)."""
        if len(self.ips) < max_ips:
            self.ips.add(ip)
            self.nets.add(net)
        if label is not None:
            self.labels[label] = self.labels.get(label, 0) + 1
        self.human += humanlike
        if len(self.agents) < 4:
            self.agents.add(agent)


_SCALARS = (
    "first_seen",
    "last_seen",
    "requests",
    "recent_n",
    "recent_high",
    "recent_p",
    "verified",
    "human",
    "proposed_at",
    "requests_to_candidate",
    "welcome",
)


class SignatureBook:
    """All signature statistics of a stream, and the candidates they qualify."""

    def __init__(
        self, rules: CandidateRules = CandidateRules(), welcome: Callable[[str], bool] | None = None
    ) -> None:
        self.rules = rules
        self.welcome = welcome  # agent -> a welcome service's (never under a candidate)
        self.stats: dict[str, SignatureStats] = {}
        self._decay = 0.5 ** (1.0 / rules.window)
        # No key was last seen before this (a lower bound), so an expiry sweep before
        # ``oldest + ttl`` has nothing to drop and skips its walk over every key.
        self._oldest = math.inf

    def __len__(self) -> int:
        return len(self.stats)

    def add(
        self,
        events: Sequence[tuple[tuple[str, ...], str, str, str, str | None, bool]],
        scores: Sequence[float],
        xs: Sequence[Mapping[str, float]],
        now: float,
        weight: Callable[[str], float] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Fold one micro-batch into the stats; return the keys that first qualified in it.

        ``events[i]`` is (signature keys, ip, net, user agent, label source or None, human-like) of
        a request scored ``scores[i]`` with features ``xs[i]``; human-like: its client is labelled
        human, or is an unlabelled browser loading page assets (a person not yet labelled).
        Requests are grouped by their key tuple first (an actor's requests share one), then each
        group updates its keys once. ``known(key)``: whether the scorer had a weight for the key
        when it scored this batch; requests scored before it had one count as support (requests,
        IPs, labels, human-like, verified) but not in the high-score share: a score computed
        without the key says nothing about the key (and a candidate needs its weight > 0 anyway).
        A key that qualifies gets ``proposed_at`` = now and ``requests_to_candidate`` = all its
        requests so far (honest: counted when the batch that made it qualify is folded in).
        """
        return self.add_groups(list(self._group(events, scores, xs).values()), now, weight, known)

    def add_groups(
        self,
        groups: Sequence[SignatureGroup],
        now: float,
        weight: Callable[[str], float] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Fold one micro-batch already grouped by signature-key tuple (see :meth:`add`), in order.

        The stream builds the groups itself while it walks the batch (one per actor), so no
        per-request tuples are made. A group is shared by its keys until a second group with the
        same key needs merging (copied then), since most keys occur in one group per batch.
        """
        per_key: dict[str, list[SignatureGroup]] = {}
        welcome = self._welcome_groups(groups)
        for group in groups:
            for key in group.keys:
                found = per_key.get(key)
                if found is None:
                    per_key[key] = [group]
                else:
                    found.append(group)
        fresh = []
        self._oldest = min(self._oldest, now)  # every key below is seen at ``now``
        stats_of, rules, samples = self.stats, self.rules, self.rules.samples
        min_requests, min_ips = rules.min_requests, min(rules.min_ips, rules.min_ips_named)
        for key, found in per_key.items():
            stats = stats_of.get(key)
            if stats is None:
                stats = stats_of[key] = SignatureStats(now, now, samples=deque(maxlen=samples))
            if len(found) == 1:  # most keys: one actor's group (no merge, no sum over groups)
                acc = found[0]
                self._fold(stats, acc, now, known is None or known(key))
                if welcome and id(acc) in welcome:
                    stats.welcome += acc.n
            else:
                acc = self._merged(found, stats)
                self._fold(stats, acc, now, known is None or known(key))
                if welcome:
                    stats.welcome += sum(group.n for group in found if id(group) in welcome)
            if (
                stats.proposed_at is None
                and stats.requests >= min_requests
                and len(stats.ips) >= min_ips
                and self.qualifies(key, stats, weight)
            ):
                stats.proposed_at, stats.requests_to_candidate = now, stats.requests
                fresh.append(key)
        return fresh

    def _welcome_groups(self, groups: Sequence[SignatureGroup]) -> set[int]:
        """The ids of the groups whose client is a welcome service no label calls unwanted (a fake
        Googlebot is a spoofer, a monitor breaking robots.txt a violator: neither spares its keys)."""
        spared = self.welcome
        if spared is None:
            return set()
        return {
            id(group)
            for group in groups
            if any(map(spared, group.agents)) and not POSITIVE.intersection(group.labels)
        }

    def _merged(self, groups: list[SignatureGroup], stats: SignatureStats) -> SignatureGroup:
        """The groups' counts summed in order, the last group's sample kept; sets are copied and
        merged only where ``stats`` still reads them (below its caps), else the first group's are shared."""
        first = groups[0]
        acc = SignatureGroup(
            first.keys,
            first.n,
            first.high,
            first.psum,
            first.ips,
            first.nets,
            dict(first.labels),
            first.agents,
            first.x,
            first.human,
        )
        max_ips = self.rules.max_ips
        sets = len(stats.ips) < max_ips or len(stats.nets) < 8
        agents = len(stats.agents) < 8
        if sets:
            acc.ips, acc.nets = set(first.ips), set(first.nets)
        if agents:
            acc.agents = set(first.agents)
        for other in groups[1:]:
            acc.n += other.n
            acc.high += other.high
            acc.psum += other.psum
            acc.human += other.human
            if sets and len(acc.ips) < max_ips:
                acc.ips |= other.ips
                acc.nets |= other.nets
            for source, count in other.labels.items():
                acc.labels[source] = acc.labels.get(source, 0) + count
            if agents and len(acc.agents) < 8:
                acc.agents |= other.agents
            acc.x = other.x
        return acc

    def _group(
        self,
        events: Sequence[tuple[tuple[str, ...], str, str, str, str | None, bool]],
        scores: Sequence[float],
        xs: Sequence[Mapping[str, float]],
    ) -> dict[int, SignatureGroup]:
        high_at, max_ips = self.rules.threshold, self.rules.max_ips
        groups: dict[int, SignatureGroup] = {}
        for (keys, ip, net, ua, label, humanlike), score, x in zip(events, scores, xs):
            acc = groups.get(id(keys))
            if acc is None:
                acc = groups[id(keys)] = SignatureGroup(keys)
            acc.n += 1
            acc.high += score > high_at
            acc.psum += score
            acc.see(ip, net, ua, label, humanlike, max_ips)
            acc.x = x
        return groups

    def _fold(
        self, stats: SignatureStats, acc: SignatureGroup, now: float, scored_with_key: bool = True
    ) -> None:
        n = acc.n
        if scored_with_key:
            decay = self._decay**n
            stats.recent_n = stats.recent_n * decay + n
            stats.recent_high = stats.recent_high * decay + acc.high
            stats.recent_p = stats.recent_p * decay + acc.psum
        stats.requests += n
        stats.last_seen = now
        ips = stats.ips
        if len(ips) < self.rules.max_ips:
            ips.update(acc.ips)
        if len(stats.nets) < 8:
            stats.nets.update(acc.nets)
        labels = acc.labels
        if labels:
            stats.verified += labels.get("verified", 0)
            counts = stats.labels
            for source, count in labels.items():
                counts[source] = counts.get(source, 0) + count
        stats.human += acc.human
        if len(stats.agents) < 8:
            stats.agents.update(acc.agents)
        if acc.x is not None:
            stats.samples.append(acc.x)

    # -- qualification ---------------------------------------------------------------------
    def qualifies(
        self, key: str, stats: SignatureStats, weight: Callable[[str], float] | None = None
    ) -> bool:
        """Whether ``key`` is a candidate now (support, bound, no good overlap, safe match)."""
        rules = self.rules
        named = key.startswith(("ua_tok=", "ua_fam="))
        if stats.requests < rules.min_requests or len(stats.ips) < (
            rules.min_ips_named if named else rules.min_ips
        ):
            return False
        if len(stats.nets) <= 1 and stats.requests < rules.min_requests_single_net:
            return False
        if stats.verified or stats.welcome or stats.human > rules.max_human_share * stats.requests:
            return False
        if wilson_lower(stats.recent_high, stats.recent_n) < rules.lcb:
            return False
        if weight is not None and weight(key) <= 0:  # the key itself must push towards "unwanted"
            return False
        match = self.match_of(key, stats)
        return match is not None and not self._allowlisted(match, stats)

    def match_of(
        self, key: str, stats: SignatureStats
    ) -> tuple[Literal["ua_pattern", "cidr", "asn"], str] | None:
        """(match_kind, match_value) enforcing the key, or None when no safe single match exists."""
        slot, _, value = key.partition("=")
        if slot in ("ua_tok", "ua_fam"):
            if not stats.agents or not all(value in candidate_tokens(a) for a in stats.agents):
                return None
            return "ua_pattern", value
        try:
            if slot == "ip24":
                return "cidr", str(ipaddress.IPv4Network(f"{value}.0/24"))
            if slot == "ip6_48":
                return "cidr", str(ipaddress.IPv6Network(f"{value}::/48"))
        except ValueError:
            return None
        if slot == "asn" and value.isdigit():
            return "asn", value
        return None  # crosses (UA family x AS) have no single-match form

    def _allowlisted(self, match: tuple[str, str], stats: SignatureStats) -> bool:
        rules = self.rules
        kind, value = match
        if any(needle in agent.lower() for agent in stats.agents for needle in rules.allow_agents):
            return True
        if kind == "ua_pattern" and any(value in needle or needle in value for needle in rules.allow_agents):
            return True
        if kind == "cidr":
            network = ipaddress.ip_network(value)
            if any(network.version == n.version and network.overlaps(n) for n in rules.allow_networks):
                return True
        if not rules.allow_networks:
            return False
        for ip in stats.ips:
            address = ipaddress.ip_address(ip)
            if any(address.version == n.version and address in n for n in rules.allow_networks):
                return True
        return False

    # -- output ----------------------------------------------------------------------------
    def candidates(
        self, explain: Explain | None = None, weight: Callable[[str], float] | None = None
    ) -> list[RuleCandidate]:
        """Every key that qualifies now, strongest first, with explanation and label counts."""
        out = []
        for key, stats in self._one_per_agent(weight):
            if stats.proposed_at is None:  # never: listed keys were proposed (narrows the type)
                continue
            match = self.match_of(key, stats)
            if match is None:  # never: a listed key has a single-match form (narrows the type)
                continue
            kind, value = match
            explanation = tuple(explain(list(stats.samples))) if explain is not None else ()
            out.append(
                RuleCandidate(
                    signature=key,
                    match_kind=kind,
                    match_value=value,
                    action="throttle"
                    if kind == "asn"
                    else "block",  # a whole AS: slow it down, do not cut it off
                    score=stats.recent_p / stats.recent_n if stats.recent_n else 0.0,
                    bad_rate_lcb=wilson_lower(stats.recent_high, stats.recent_n),
                    support_requests=stats.requests,
                    support_ips=len(stats.ips),
                    first_seen=stats.first_seen,
                    proposed_at=stats.proposed_at,
                    requests_to_candidate=stats.requests_to_candidate or stats.requests,
                    explanation=explanation,
                    label_counts=tuple(sorted(stats.labels.items())),
                )
            )
        return sorted(out, key=lambda c: (-c.bad_rate_lcb, -c.support_requests, c.signature))

    def _one_per_agent(self, weight: Callable[[str], float] | None) -> list[tuple[str, SignatureStats]]:
        """The proposed keys that qualify now, less the UA keys of agents a listed UA key is for.

        An agent's name, URL host and contact domain are separate keys fed by the same requests:
        one candidate per agent is listed. UA keys go first proposed first, then longest (a name's
        URL host is more specific than the name), then the agent's own token before its family
        key: stable across polls, so a reviewed candidate is not replaced by a twin. A key seen
        with other agents too is another family's: kept.
        """
        found = [(k, s) for k, s in self._proposed() if self.qualifies(k, s, weight)]
        ua = sorted(
            (item for item in found if item[0].startswith(("ua_tok=", "ua_fam="))),
            key=lambda item: (
                item[1].proposed_at,
                -len(item[0].partition("=")[2]),
                not item[0].startswith("ua_tok="),
                item[0],
            ),
        )
        listed: list[set[str]] = []  # the agents of each listed UA key (its token is in all of them)
        twins = set()
        for key, stats in ua:
            if any(stats.agents <= agents for agents in listed):
                twins.add(key)
            else:
                listed.append(stats.agents)
        return [(k, s) for k, s in found if k not in twins]

    def _proposed(self) -> list[tuple[str, SignatureStats]]:
        """The keys proposed so far, with their stats."""
        return [(k, s) for k, s in self.stats.items() if s.proposed_at is not None]

    def expire(self, now: float) -> int:
        """Drop keys idle for longer than ``rules.ttl``; return how many."""
        horizon = now - self.rules.ttl
        if self._oldest >= horizon:
            return 0
        old = [k for k, s in self.stats.items() if s.last_seen < horizon]
        for key in old:
            del self.stats[key]
        self._oldest = min((s.last_seen for s in self.stats.values()), default=math.inf)
        return len(old)

    def to_json(self) -> dict[str, Any]:
        return {key: stats.to_json() for key, stats in self.stats.items()}

    def to_arrays(self, strings: StringTable) -> dict[str, np.ndarray]:
        """Every key's stats as columns (for a snapshot ``.npz``); strings become ids in ``strings``.

        Why columns: JSON of per-key objects grew with every IP and sample (23 MB for 6k keys);
        here IPs, agents and feature keys are ids into one string table, and the samples a
        micro-batch shared between its keys (one dict per actor) are stored once.
        """
        items = list(self.stats.items())
        out: dict[str, np.ndarray] = {"sig_key": np.array(strings.ids(k for k, _ in items), dtype=np.int64)}
        for name in ("first_seen", "last_seen", "recent_n", "recent_high", "recent_p"):
            out[f"sig_{name}"] = np.array([getattr(st, name) for _, st in items], dtype=np.float64)
        for name in ("requests", "verified", "human", "welcome"):
            out[f"sig_{name}"] = np.array([getattr(st, name) for _, st in items], dtype=np.int64)
        out["sig_proposed_at"] = np.array(
            [np.nan if st.proposed_at is None else st.proposed_at for _, st in items]
        )
        out["sig_requests_to_candidate"] = np.array(
            [-1 if st.requests_to_candidate is None else st.requests_to_candidate for _, st in items],
            dtype=np.int64,
        )
        for name in ("ips", "nets", "agents"):
            values = [getattr(st, name) for _, st in items]
            out[f"sig_{name}_n"] = np.array([len(v) for v in values], dtype=np.int64)
            out[f"sig_{name}"] = np.array([i for v in values for i in strings.ids(sorted(v))], dtype=np.int64)
        out["sig_labels_n"] = np.array([len(st.labels) for _, st in items], dtype=np.int64)
        out["sig_labels"] = np.array(
            [strings.id(src) for _, st in items for src in st.labels], dtype=np.int64
        )
        out["sig_label_counts"] = np.array([c for _, st in items for c in st.labels.values()], dtype=np.int64)
        samples: dict[int, int] = {}  # id(sample dict) -> its number (shared dicts stored once)
        flat: list[int] = []
        keys: list[int] = []
        lens: list[int] = []
        vals: list[float] = []
        for _, st in items:
            for x in st.samples:
                number = samples.get(id(x))
                if number is None:
                    number = samples[id(x)] = len(lens)
                    keys.extend(strings.ids(x))
                    vals.extend(x.values())
                    lens.append(len(x))
                flat.append(number)
        out["sig_samples_n"] = np.array([len(st.samples) for _, st in items], dtype=np.int64)
        out["sig_samples"] = np.array(flat, dtype=np.int64)
        out["sample_len"] = np.array(lens, dtype=np.int64)
        out["sample_keys"] = np.array(keys, dtype=np.int32 if len(strings.strings) < 2**31 else np.int64)
        # binary features (the stream's) need no values: stored only when some differ from 1
        out["sample_vals"] = np.array(vals if any(v != 1.0 for v in vals) else [], dtype=np.float64)
        return out

    def load_arrays(self, arrays: Mapping[str, np.ndarray], strings: Sequence[str]) -> None:
        """Replace the stats with those :meth:`to_arrays` wrote (ValueError: the columns do not
        fit together or name a string the table lacks: a damaged or crafted file)."""
        check_arrays(arrays, len(strings))
        lens = arrays["sample_len"].tolist()
        keys, vals = arrays["sample_keys"].tolist(), arrays["sample_vals"].tolist()
        if not vals:
            vals = [1.0] * len(keys)
        samples, at = [], 0
        for size in lens:
            samples.append({strings[k]: v for k, v in zip(keys[at : at + size], vals[at : at + size])})
            at += size
        columns = {name: arrays[f"sig_{name}"].tolist() for name in _SCALAR_COLUMNS}
        # a snapshot from before the welcome count: none seen (its candidates were vetted without it)
        welcome = arrays["sig_welcome"].tolist() if "sig_welcome" in arrays else [0] * len(arrays["sig_key"])
        ragged = {
            name: _split(arrays[f"sig_{name}"].tolist(), arrays[f"sig_{name}_n"].tolist())
            for name in ("ips", "nets", "agents", "labels", "samples")
        }
        counts = _split(arrays["sig_label_counts"].tolist(), arrays["sig_labels_n"].tolist())
        stats: dict[str, SignatureStats] = {}
        for i, key in enumerate(arrays["sig_key"].tolist()):
            proposed, to_candidate = columns["proposed_at"][i], columns["requests_to_candidate"][i]
            stats[strings[key]] = SignatureStats(
                first_seen=columns["first_seen"][i],
                last_seen=columns["last_seen"][i],
                requests=columns["requests"][i],
                recent_n=columns["recent_n"][i],
                recent_high=columns["recent_high"][i],
                recent_p=columns["recent_p"][i],
                ips={strings[j] for j in ragged["ips"][i]},
                nets={strings[j] for j in ragged["nets"][i]},
                verified=columns["verified"][i],
                human=columns["human"][i],
                labels={strings[j]: c for j, c in zip(ragged["labels"][i], counts[i])},
                agents={strings[j] for j in ragged["agents"][i]},
                samples=deque((samples[j] for j in ragged["samples"][i]), maxlen=self.rules.samples),
                proposed_at=None if math.isnan(proposed) else proposed,
                requests_to_candidate=None if to_candidate < 0 else to_candidate,
                welcome=welcome[i],
            )
        self.stats, self._oldest = stats, -math.inf

    def load_json(self, data: Mapping[str, Any]) -> None:
        self.stats = {key: SignatureStats.from_json(value, self.rules.samples) for key, value in data.items()}
        self._oldest = -math.inf


#: A snapshot's columns of one number per signature (``sig_<name>``) that every snapshot has
#: (``welcome`` came later), besides the run lengths.
_SCALAR_COLUMNS = tuple(name for name in _SCALARS if name != "welcome")


def check_arrays(arrays: Mapping[str, np.ndarray], strings: int) -> None:
    """ValueError unless a snapshot's signature columns fit together: every per-key column as long
    as ``sig_key``, every ragged column as long as its counts say, every string id inside the
    string table and every sample number inside the samples (a file is read, never trusted)."""
    try:
        keys = len(arrays["sig_key"])
        per_key = [f"sig_{n}" for n in _SCALAR_COLUMNS]
        per_key += [f"sig_{n}_n" for n in ("ips", "nets", "agents", "labels", "samples")]
        per_key += ["sig_welcome"] if "sig_welcome" in arrays else []
        bad = [name for name in per_key if len(arrays[name]) != keys]
        for name in ("ips", "nets", "agents", "labels", "samples"):
            sizes = arrays[f"sig_{name}_n"]
            if (sizes < 0).any() or int(sizes.sum()) != len(arrays[f"sig_{name}"]):
                bad.append(f"sig_{name}_n")
        if len(arrays["sig_label_counts"]) != len(arrays["sig_labels"]):
            bad.append("sig_label_counts")
        lens = arrays["sample_len"]
        if (lens < 0).any() or int(lens.sum()) != len(arrays["sample_keys"]):
            bad.append("sample_len")
        vals = arrays["sample_vals"]
        if len(vals) and len(vals) != len(arrays["sample_keys"]):
            bad.append("sample_vals")
        for name in ("sig_key", "sig_ips", "sig_nets", "sig_agents", "sig_labels", "sample_keys"):
            ids = arrays[name]
            if len(ids) and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= strings):
                bad.append(name)
        numbers = arrays["sig_samples"]
        if len(numbers) and (
            numbers.dtype.kind not in "iu" or numbers.min() < 0 or numbers.max() >= len(lens)
        ):
            bad.append("sig_samples")
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"snapshot signatures: a column is missing or malformed ({error})") from None
    if bad:
        raise ValueError(f"snapshot signatures: bad columns (lengths or unknown ids): {', '.join(bad)}")


def _split(flat: list[Any], sizes: list[int]) -> list[list[Any]]:
    """``flat`` cut into consecutive runs of ``sizes``."""
    out, at = [], 0
    for size in sizes:
        out.append(flat[at : at + size])
        at += size
    return out
