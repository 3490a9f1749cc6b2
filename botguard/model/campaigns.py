"""Campaign signatures: what ties a scraper's many addresses together, learned from the stream.

Why: a campaign that rents a residential-proxy pool sends one to twelve requests from each of
hundreds of addresses, with current browser agents; no per-client rule can tell one of its
clients from a person, and no block rule can name it without naming people. What gives it away
is what its clients share *across addresses*, in time:

- **walk** (``walk=``): one walk of the catalogue split across addresses: consecutive ids of one
  path template (``/product/{n}``) requested by different clients, each step within
  ``link_window`` seconds of the last (a person's pages are not the next id of a stranger's);
- **referer** (``referer=``): a client whose request names, as its referer, a page of this site it
  never requested but another client did just before (the campaign's previous page);
- **burst** (``agent=``, ``asn=``, ``net=``): more new *bare* clients (no assets, not following
  their own links) in ``burst_window`` seconds than a key's usual rate explains: the exact agent
  with its protocol, referer kind and entry template; the AS number with the same; a hosting
  /24 or /48. A key qualifies with at least ``burst_min`` clients and ``burst_lift`` times its
  usual rate (a decayed count of its earlier arrivals), so a popular browser does not qualify
  for being popular;
- **self-walk** (``self-walk=``): one client walking consecutive ids by itself (a slow walker at
  a person's pace, a headless worker that even loads the assets);
- **orphan referer** (``orphan-referer=``): a bare client whose referer names a page of this site
  that this client (address and agent) never requested (``_served.py``: bounded memory across
  batches). Off for the first ``orphan_warmup`` seconds of the stream (sessions begun before the
  log) and while clients that load assets (browsers showing pages to people) send such referers
  more often than ``orphan_max_share`` (a site whose pages a CDN serves from its cache).

Evidence short of a raise: a burst key's new bare clients carry its excess over its usual rate
(:func:`burst_excess`), and a client whose cross-address raise went because it follows its own
links keeps half the raise's confidence; both only score its requests (a one-request proxy client
in a window of many new clients sharing its agent ranks above a person at that key's usual
rate), and neither survives the client loading a page asset.

A client that matches a signature with support is *raised*: its score becomes at least the
campaign's confidence, and the scan's verdict rises (``action``: ``challenge`` when the evidence
is only behavioural, ``block`` with evidence of its own). Never raised: catalogue crawlers and
verified clients (not even considered), and clients that act like people: a client that loads
page assets leaves every signature but a long self-walk from a hosting network, and one that
follows its own links (a reader whose browser cached the assets) leaves every signature but a
self-walk. Everything here reads only requests up to the
current one, so a scan and a watch of the same log raise the same clients.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from botguard.config import CampaignRules
from botguard.model._actors import ASSET, HONEYPOT, PAGE, ActorTable
from botguard.model._due import DueQueue
from botguard.model._keys import MEMO_LIMIT, Call
from botguard.model._served import ServedPages, ServedWalk
from botguard.model.features import path_template
from botguard.model.records import ClientRaise
from botguard.native import kernel

#: Kinds whose members must not follow their own links (all but a self-walk).
_CROSS_KINDS = frozenset({"agent", "asn", "net", "walk", "referer", "orphan"})
_ID = re.compile(r"\d+")
_TRUST_MIN = 10.0  # (decayed) referers of asset-loading clients checked before orphans raise anyone
_DEFAULT_RULES = CampaignRules()
#: Clients of a burst key's window its excess leaves to chance (:func:`burst_excess`).
_EXCESS_SHRINK = 1.0
#: The most a burst key's excess gives a client that no signature raised.
_EXCESS_CAP = 0.85
#: The share of a cross-address raise's confidence a client keeps in its score once it is
#: dropped for following the client's own links (:meth:`CampaignBook._page`).
_KEPT_SHARE = 0.5
_FADED = 0.05  # a burst key's decayed usual rate below which it is forgotten
#: A page request's path, referer (host, page), and the served-pages bits of its referer's page.
_PageCols = tuple[str, tuple[str, str], list[int] | None]
#: What a burst key's arrival leaves the book to do (None: nothing): the excess its bare members
#: get, whether the key qualifies, its usual rate, and those members (keys; ids from the kernel).
_Arrived = tuple[float, bool, float, list[Any]] | None
#: Client ids (the burst kernel's windows) grow to this many beyond twice the live clients before
#: they are renumbered (a renumbering walks every burst key's window: rare, a few MB at most).
_IDS_SLACK = 1 << 16


@dataclass(slots=True)
class Client:
    """One (ip, user agent) as the campaign book sees it."""

    key: tuple[str, str]
    first: float
    last: float
    pages: int = 0
    assets: int = 0
    follows: int = 0  # pages whose referer is one of its own pages
    own_steps: int = 0
    walk_last: dict[str, int] = field(default_factory=dict)  # template -> last id
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=16))  # its last page paths
    hosting: bool = False
    orphans: int = 0  # pages whose referer is a page of this site it never requested
    excess: float = 0.0  # campaign evidence short of a raise (:func:`burst_excess`), while bare
    kept: float = 0.0  # evidence left by a cross-address raise dropped for following its own links


@dataclass(slots=True)
class Chain:
    """A walk (or referer chain) and the clients that took its steps."""

    sid: int
    kind: str
    template: str
    first: float
    last: float
    head: int = -1
    clients: set[tuple[str, str]] = field(default_factory=set)
    qualified: bool = False


@dataclass(slots=True)
class Burst:
    """The new bare clients of one key in the sliding window, and its usual rate."""

    window: deque[tuple[float, tuple[str, str]]] = field(default_factory=deque)
    mass: float = 0.0  # decayed count of earlier arrivals (not during a qualified burst)
    mass_at: float = 0.0
    qualified_at: float | None = None
    expected: float = 0.0

    @property
    def newest(self) -> float | None:
        """The time of the window's last arrival (None: empty), as the kernel's ring says it."""
        return self.window[-1][0] if self.window else None


@dataclass(frozen=True, slots=True)
class _Page:
    """The latest eligible request of a path: for referer links."""

    chain: Chain | None  # None: its client loads assets (no campaign links through a person's pages)
    t: float
    client: tuple[str, str]
    popular: bool  # requested by another client just before: names no one in particular


class CampaignBook:
    """Campaign signatures over the stream, the clients they raised, and every client's last score."""

    def __init__(self, rules: CampaignRules = _DEFAULT_RULES, short_of: float = _EXCESS_CAP) -> None:
        self.rules = rules
        # evidence short of a raise (burst excess, a dropped raise's kept share) stays at or below
        # this: the signature book's high-score threshold as configured, so it ranks clients
        # and never by itself makes a request count towards a rule candidate
        self.short_of = min(_EXCESS_CAP, short_of)
        self._reset()

    def _reset(self) -> None:
        rules = self.rules
        self.clients: dict[tuple[str, str], Client] = {}
        self.chains: dict[int, Chain] = {}
        self.heads: dict[str, dict[int, Chain]] = {}  # template -> head id -> chain
        self.pages: dict[str, _Page] = {}
        self.bursts: dict[str, Any] = {}  # key -> Burst, or the kernel's BurstRing (the same fields)
        self.raised_: dict[tuple[str, str], ClientRaise] = {}
        self.scores: dict[tuple[str, str], tuple[float, float]] = {}  # client -> (last score, its time)
        self._next = 0
        self._tau = rules.baseline_half_life / math.log(2)
        self._walks: dict[str, tuple[str, int] | None] = {}
        self._referers: dict[str, tuple[str, str]] = {}
        self.served = ServedPages(rules.orphan_memory)
        self.started: float | None = None
        self.trust = [
            0.0,
            0.0,
            0.0,
        ]  # decayed referer checks of asset-loading clients, orphans among them, at
        # when each key of the maps above may fall idle (expire pops these instead of walking the maps)
        self._due_clients: DueQueue[tuple[str, str]] = DueQueue()
        self._due_pages: DueQueue[str] = DueQueue()
        self._due_heads: DueQueue[tuple[str, int]] = DueQueue()
        self._due_chains: DueQueue[int] = DueQueue()
        self._due_bursts: DueQueue[str] = DueQueue()
        self._due_scores: DueQueue[tuple[str, str]] = DueQueue()
        self._unraise: set[tuple[str, str]] = set()  # raised keys to check at the next sweep
        # The burst rings in C when the campaign kernel is built (else Burst and _ring_arrive, its
        # twin): windows hold clients by id; whether each id's client is bare is one byte here,
        # kept at every change (a client made, its first asset or own link, its expiry).
        native = kernel("model._campaign")
        self._ring: Any = None if native is None else native.BurstRing
        self._ring_rules = (
            rules.burst_window, self._tau, rules.baseline_floor, rules.burst_min, rules.burst_lift,
            _EXCESS_SHRINK, _EXCESS_CAP, self.short_of,
        )  # fmt: skip
        self._ids: dict[tuple[str, str], int] = {}  # client key -> id in the rings' windows
        self._id_keys: list[tuple[str, str]] = []
        self._bare_ids = bytearray()

    # -- the stream ------------------------------------------------------------------------
    def observe(
        self, call: Call, kind: np.ndarray, actors: ActorTable, aid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fold the call's requests in order; return each request's campaign probability (its
        client's raise confidence before the request; for the request that drops that raise, what
        the raise left: the last request of a client is its score, and a verdict no longer reads
        the raise) and whether its referer names one of its client's recent pages (it follows a
        link of a page it was shown; False for a request the book does not read)."""
        p = np.zeros(call.n)
        follows = np.zeros(call.n, dtype=bool)
        if not self.rules.enabled:
            return p, follows
        # the requests a campaign can touch, and what each needs, as columns: one pass per call
        rows = np.flatnonzero(
            ~actors.crawled[aid]
            & (actors.identity[aid] != 1)
            & ((kind == PAGE) | (kind == HONEYPOT) | (kind == ASSET))
        )
        if not rows.size:
            return p, follows
        raised, clients, ttl = self.raised_, self.clients, self.rules.client_ttl
        if self.started is None:
            self.started = float(call.t[rows[0]])
        hosting = [bool(i.hosting) for i in call.ip_infos]
        nets = [i.net for i in call.ip_infos]
        ips, uas, referers = call.ip, call.ua, call.referer
        served, due, ids = self.served, self._due_clients, self._ids
        asset = (kind[rows] == ASSET).tolist()
        walk, pages = self._page_columns(call, rows[kind[rows] != ASSET], nets)
        added = 0  # page requests walked so far: each adds its triple to the served pages
        for i, t, a, at in zip(rows.tolist(), call.t[rows].tolist(), call.ip_of[rows].tolist(), asset):
            key = (ips[i], uas[i])
            client = clients.get(key)
            found = raised.get(key)
            if found is not None and self._forgotten(key, client, t):
                del raised[key]
                found = None
            if found is not None:
                p[i] = found.confidence
            if client is None or t - client.last > ttl:
                client = clients[key] = Client(key, t, t, hosting=hosting[a])
                due.add(key, t)
                if ids:
                    self._set_bare(key, 1)
            client.last = t
            if at:
                if ids and not client.assets and not client.follows:
                    self._set_bare(key, 0)
                client.assets += 1
                host, page = self.referer(referers[i])
                if (
                    host
                    and page
                    and served.learning(host, key[0])
                    and walk.requested(added, t, walk.cells(nets[a], key[1], page))
                ):
                    served.note_asset(host, key[0], t)
                follows[i] = bool(page) and page in client.recent
                if found is not None and found.kind != "self-walk":
                    del raised[key]  # it loads what a browser shows a person
                    p[i] = 0.0  # this request dropped the raise: nothing of it is left
                client.excess = client.kept = 0.0
                continue
            follows[i] = self._page(call, i, t, client, next(pages), walk, added)
            added += 1
            if found is not None and key not in raised:
                p[i] = 0.0  # this request dropped the raise: what it kept (below) is what is left
            if client.excess or client.kept:
                p[i] = max(p[i], client.excess, client.kept)
        walk.close()
        return p, follows

    def _page_columns(
        self, call: Call, rows: np.ndarray, nets: list[str]
    ) -> tuple[ServedWalk, Iterator[_PageCols]]:
        """The served pages as the call's walk sees them (each page request adds its (network,
        agent, path): all known before the walk, so made at once), and what each page request needs
        from its columns, in row order: its path, its referer (host, page), and the filters' bits of
        (network, agent, referer page) (hashed for the whole call at once; checked in order by
        :meth:`_page`)."""
        at = rows.tolist()
        net = [nets[a] for a in call.ip_of[rows].tolist()]
        ua = [call.ua[i] for i in at]
        path = [(call.target[i] or "/").split("#", 1)[0] for i in at]
        refs = [self.referer(call.referer[i]) for i in at]
        walk = self.served.walk(call.t[rows], self.served.hashes(net, ua, path))
        named: list[list[int] | None] = [None] * len(at)
        if self.rules.orphan_referer:  # the referer page is checked only for an orphan
            linked = [k for k, (_, ref) in enumerate(refs) if ref]
            hashes = self.served.hashes(
                [net[k] for k in linked], [ua[k] for k in linked], [refs[k][1] for k in linked]
            )
            for k, found in zip(linked, walk.cells_of(hashes)):
                named[k] = found
        return walk, zip(path, refs, named)

    def _forgotten(self, key: tuple[str, str], client: Client | None, t: float) -> bool:
        """Whether :meth:`expire` at ``t`` would have dropped this raise: checked on every request,
        so when expiry runs (it depends on how the stream was cut) never changes an outcome."""
        rules = self.rules
        if client is not None and t - client.last <= rules.client_ttl:
            return False
        score = self.scores.get(key)
        return score is None or score[1] < t - rules.keep

    def _page(
        self, call: Call, i: int, t: float, c: Client, cols: _PageCols, served: ServedWalk, added: int
    ) -> bool:
        """Fold one page request (the walk's ``added``-th) into its client and the signatures;
        whether its referer is one of the client's recent pages."""
        rules = self.rules
        path, (host, ref), named = cols
        c.pages += 1
        own = bool(ref) and ref in c.recent
        if own:
            if self._ids and not c.follows and not c.assets:
                self._set_bare(c.key, 0)
            c.follows += 1
            c.excess = 0.0
            found = self.raised_.get(c.key)
            if found is not None and found.kind in _CROSS_KINDS and c.follows > c.orphans:
                # following its own links more than naming pages it never saw: a reader, not a
                # campaign's step (a campaign address handed its own last page now and then is not)
                del self.raised_[c.key]
                # ... yet a signature tied it to other addresses: its requests keep part of that
                # evidence in their score (no verdict reads it), until it loads an asset
                c.kept = max(c.kept, min(_KEPT_SHARE * found.confidence, self.short_of))
        walk = self._walk(path)
        if walk is not None:
            last = c.walk_last.get(walk[0])
            if last is not None and 0 < walk[1] - last <= rules.max_step:
                c.own_steps += 1
                self._self_walk(c, t, walk[0])
            c.walk_last[walk[0]] = walk[1]
        bare = c.assets == 0
        if ref and self.served.own(host) and self._orphan(c, t, named, own, served, added):
            c.orphans += 1
            if not c.assets and c.follows <= c.orphans and c.key not in self.raised_:
                reason = f"model: referers name pages this client never requested ({c.orphans} of {c.pages})"
                self._record(c, t, "orphan-referer", "orphan", reason, 1, 0.99)
        chain = self._chain(c, t, walk, ref if not own else "") if bare else None
        previous = self.pages.get(path)
        popular = previous is not None and previous.client != c.key and t - previous.t <= rules.link_window
        self.pages[path] = _Page(chain, t, c.key, popular)
        self._due_pages.add(path, t)
        if c.pages == 1 and bare and not own:
            site = ref and (not host or self.served.own(host))
            kind = f"site:{path_template(ref)}" if site else f"ext:{host}" if host else "-"
            self._bursts(call, i, t, c, kind, path)
        c.recent.append(path)
        return own

    # -- orphan referers --------------------------------------------------------------------
    def _orphan(
        self, c: Client, t: float, named: list[int] | None, own: bool, served: ServedWalk, added: int
    ) -> bool:
        """Whether this page's referer (a page of this site, not one of the client's recent ones)
        names a page the client's agent never requested from its /24 (/48: a person behind a carrier
        NAT whose connections leave from several addresses of a pool is one client here), and the
        signal counts now: the client loads no assets, the stream is past its warm-up, and
        asset-loading clients (people's browsers) of this site do not do the same (their share is
        tracked here, decayed)."""
        rules = self.rules
        if not rules.orphan_referer:
            return False
        browser = c.assets > 0
        orphan = not own and named is not None and not served.requested(added, t, named)
        checks, hits, at = self.trust
        fade = math.exp(-max(0.0, t - at) / self._tau)
        checks, hits = checks * fade, hits * fade
        if browser:
            checks, hits = checks + 1.0, hits + orphan
        self.trust = [checks, hits, t]
        return (
            orphan and not browser and self.started is not None and t >= self.started + rules.orphan_warmup
            and checks >= _TRUST_MIN and hits <= rules.orphan_max_share * checks
        )  # fmt: skip

    # -- walks and referer chains ------------------------------------------------------------
    def _chain(self, c: Client, t: float, walk: tuple[str, int] | None, ref: str) -> Chain:
        """The chain a bare client's page joins: the one whose page it names as its referer (a
        deep page one client requested just before: never the home page or a popular one), the
        walk it steps on, or a new one."""
        rules = self.rules
        chain = None
        page = self.pages.get(ref) if ref else None
        if (
            page is not None and page.chain is not None and page.client != c.key and not page.popular
            and t - page.t <= rules.link_window and self._deep(ref)
        ):  # fmt: skip
            chain = page.chain
        if walk is not None:
            heads = self.heads.setdefault(walk[0], {})
            if chain is None:
                best = None
                for step in range(rules.max_step + 1):
                    found = heads.get(walk[1] - step)
                    if (
                        found is not None
                        and t - found.last <= rules.link_window
                        and (best is None or found.last > best.last)
                    ):
                        best = found
                chain = best
            if chain is not None and chain.template == walk[0] and heads.get(chain.head) is chain:
                del heads[chain.head]
        if chain is None:
            chain = Chain(
                self._next, "walk" if walk is not None else "referer", walk[0] if walk else "", t, t
            )
            self.chains[self._next] = chain
            self._due_chains.add(self._next, t)
            self._next += 1
        if walk is not None and chain.template == walk[0]:
            chain.head = max(chain.head, walk[1])
            self.heads[walk[0]][chain.head] = chain
            self._due_heads.add((walk[0], chain.head), t)
        chain.last = t
        if c.key not in chain.clients:
            chain.clients.add(c.key)
            if chain.qualified:
                self._raise(c, t, chain)
            elif len(chain.clients) >= rules.min_clients:
                chain.qualified = True
                for member in chain.clients:
                    found_client = self.clients.get(member)
                    if found_client is not None:
                        self._raise(found_client, t, chain)
        return chain

    def _deep(self, path: str) -> bool:
        """A page that names one item (a number in its path, or a query): a referer to it points
        at whoever just requested it, where the home page or an article points at anyone."""
        return "?" in path or self._walk(path) is not None

    def _raise(self, c: Client, t: float, chain: Chain) -> None:
        if c.assets or c.follows or c.key in self.raised_:
            return
        kind = "walk" if chain.kind == "walk" else "referer"
        what = f"walk over {chain.template}" if kind == "walk" else "chain of referers"
        reason = f"model: campaign {what} split across {len(chain.clients)} addresses"
        self._record(
            c, t, f"{kind}={chain.template or '-'}@{chain.first:.0f}", kind, reason, len(chain.clients), 0.99
        )

    def _self_walk(self, c: Client, t: float, template: str) -> None:
        rules = self.rules
        steps = c.own_steps
        if (steps >= rules.self_walk and not c.assets) or (steps >= rules.self_walk_hosting and c.hosting):
            found = self.raised_.get(c.key)
            if found is None or found.kind != "self-walk":
                reason = f"model: walks {template} in order by itself ({steps} steps)"
                self.raised_.pop(c.key, None)
                self._record(c, t, f"self-walk={template}", "self-walk", reason, 1, 0.99)

    # -- bursts ------------------------------------------------------------------------------
    def _bursts(self, call: Call, i: int, t: float, c: Client, referer: str, path: str) -> None:
        """Count a new bare client in its burst keys; raise the members of a key that qualifies."""
        info = call.ip_infos[call.ip_of[i]]
        shape = f"{call.protocol[i] or '-'}|{referer}|{path_template(path)}"
        keys = [f"agent={call.ua[i]}|{shape}"]
        if info.asn is not None:
            keys.append(f"asn={info.asn}|{shape}")
        if info.hosting:
            keys.append(f"net={info.net}")
        client = -1 if self._ring is None else self._client_id(c.key)
        for key in keys:
            self._arrive(key, t, c, client)

    def _arrive(self, key: str, t: float, c: Client, client: int) -> None:
        """Count one arrival in a burst key's window (by the kernel's ring when ``client``, the
        client's id, is not -1); give its bare members their excess; raise them if it qualifies."""
        burst: Any = self.bursts.get(key)
        if burst is None:
            burst = self.bursts[key] = Burst(mass_at=t) if client < 0 else self._ring(t, self._ring_rules)
            self._due_bursts.add(key, t)
        if client < 0:
            arrived = self._ring_arrive(burst, t, c)
        else:
            arrived = burst.arrive(t, client, self._bare_ids)
            if arrived is not None:
                keys = self._id_keys
                arrived = (arrived[0], arrived[1], arrived[2], [keys[m] for m in arrived[3]])
        if arrived is None:
            return
        excess, qualifies, expected, members = arrived
        n = len(members)
        self._note_excess(members, excess)
        if qualifies:
            confidence = max(0.0, 1.0 - expected / n)
            kind = key.partition("=")[0]
            reason = (
                f"model: campaign burst of {n} new clients sharing {_describe(key)} (usually {expected:.1f})"
            )
            for member in members:
                found = self.clients[member]
                if member not in self.raised_:
                    self._record(found, t, key, kind, reason, n, round(confidence, 4))

    def _ring_arrive(self, burst: Burst, t: float, c: Client) -> _Arrived:
        """Add a client to a burst key's window and update its usual rate: the pure twin of the
        kernel's ``BurstRing.arrive``. Returns the excess (:func:`burst_excess`, at most
        ``short_of``), whether the key qualifies, its usual rate and the window's bare members
        (each once, in order), or None when the excess is nothing and the key does not qualify."""
        rules = self.rules
        window = burst.window
        while window and window[0][0] < t - rules.burst_window:
            window.popleft()
        window.append((t, c.key))
        burst.mass *= math.exp(-(t - burst.mass_at) / self._tau)
        burst.mass_at = t
        expected = max(rules.baseline_floor, burst.mass / self._tau * rules.burst_window)
        # a window shorter than the bar cannot hold enough distinct bare members to qualify, nor
        # one of at most the usual rate and the chance client any excess: not counted then
        short = len(window) < rules.burst_min or len(window) < rules.burst_lift * expected
        counted = not short or len(window) > expected + _EXCESS_SHRINK
        members = list(dict.fromkeys(m for _, m in window if self._bare(m))) if counted else []
        n = len(members)
        excess = min(burst_excess(n, expected), self.short_of)
        qualifies = not short and n >= rules.burst_min and n >= rules.burst_lift * expected
        if qualifies:
            if burst.qualified_at is None:
                burst.qualified_at, burst.expected = t, expected
        else:
            burst.qualified_at = None
        # Every arrival makes the key's usual rate, a burst's too: otherwise a key that qualifies
        # at first sight (no history yet) would never learn that its rate is ordinary.
        burst.mass += 1.0
        if excess <= 0.0 and not qualifies:
            return None
        return excess, qualifies, expected, members

    def _note_excess(self, members: list[tuple[str, str]], excess: float) -> None:
        """Give the bare members of a burst key's window (each once) the key's excess over its
        usual rate (:func:`burst_excess`, at most ``short_of``) as campaign evidence short of a
        raise; a member whose last request came before has its score raised to it, as a late
        raise does."""
        if excess <= 0.0:
            return
        for member in members:
            found = self.clients[member]
            if excess > found.excess:
                found.excess = excess
                score = self.scores.get(member)
                if score is not None and score[0] < excess:
                    self.scores[member] = (excess, score[1])

    def _bare(self, key: tuple[str, str]) -> bool:
        c = self.clients.get(key)
        return c is not None and not c.assets and not c.follows

    # -- client ids (the burst kernel's windows) ---------------------------------------------
    def _client_id(self, key: tuple[str, str]) -> int:
        """The id of a client key in the kernel's windows, given at its first arrival."""
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._id_keys)
            self._id_keys.append(key)
            self._bare_ids.append(self._bare(key))
        return found

    def _set_bare(self, key: tuple[str, str], bare: int) -> None:
        """Whether a client with an id is bare, as it changes (:meth:`_bare`)."""
        found = self._ids.get(key)
        if found is not None:
            self._bare_ids[found] = bare

    def _member(self, member: tuple[str, str] | int) -> tuple[str, str]:
        """A window member's client key (the kernel's windows hold ids)."""
        return self._id_keys[member] if isinstance(member, int) else member

    def _renumber(self) -> None:
        """Keep ids only for the clients in a window, in the same order: the ids of clients gone
        would otherwise grow without end (a client given a new id at its next arrival gets its
        bare flag then, from :meth:`_bare`)."""
        live: set[int] = {c for burst in self.bursts.values() for _, c in burst.window}
        table = np.full(len(self._id_keys), -1, dtype=np.int64)
        kept = sorted(live)
        table[kept] = np.arange(len(kept), dtype=np.int64)
        for burst in self.bursts.values():
            burst.renumber(table)
        self._id_keys = [self._id_keys[i] for i in kept]
        self._ids = {key: i for i, key in enumerate(self._id_keys)}
        self._bare_ids = bytearray(self._bare_ids[i] for i in kept)

    # -- parsing (memoised) ------------------------------------------------------------------
    def _walk(self, path: str) -> tuple[str, int] | None:
        """(template, id) of a path with exactly one number and no query, else None."""
        memo = self._walks
        if path in memo:
            return memo[path]
        if len(memo) > MEMO_LIMIT:
            memo.clear()
        found = None
        if "?" not in path:
            numbers = _ID.findall(path)
            if len(numbers) == 1 and len(numbers[0]) <= 12:
                found = (_ID.sub("{n}", path), int(numbers[0]))
        memo[path] = found
        return found

    def referer(self, referer: str | None) -> tuple[str, str]:
        """(host, path?query) of a referer URL; ("", "") for none or one that does not parse."""
        if not referer or referer == "-":
            return ("", "")
        memo = self._referers
        hit = memo.get(referer)
        if hit is None:
            if len(memo) > MEMO_LIMIT:
                memo.clear()
            try:
                parts = urlsplit(referer)
                host = (parts.hostname or "")[:100]
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            except ValueError:
                host, path = "", ""
            hit = memo[referer] = (host, path if path.startswith("/") else "")
        return hit

    # -- raises ------------------------------------------------------------------------------
    def _record(
        self, c: Client, t: float, signature: str, kind: str, reason: str, support: int, confidence: float
    ) -> None:
        self.raised_[c.key] = ClientRaise(c.key[0], c.key[1], signature, kind, reason, support, confidence, t)
        score = self.scores.get(c.key)
        if score is not None and score[0] < confidence:
            # A raise after a client's last request (its walk or burst qualified later) is the
            # model's last word on it: its score says so, or a one-request member of a campaign
            # keeps the score of its only request, made before anything tied it to the rest.
            self.scores[c.key] = (confidence, score[1])

    def raised(self) -> dict[tuple[str, str], ClientRaise]:
        """The clients raised now, by (ip, user agent)."""
        return dict(self.raised_)

    def note_scores(self, ips: list[str], uas: list[str], t: np.ndarray, scores: np.ndarray) -> None:
        """Remember each client's last score (the rows are in stream order: the last one wins), or
        its raise's confidence or burst excess when that is higher (either may have come after
        its last request, within the same call)."""
        last = {key: r for r, key in enumerate(zip(ips, uas))}
        store, raised, clients = self.scores, self.raised_, self.clients
        due = self._due_scores if math.isfinite(self.rules.keep) else None  # a scan keeps them all
        score_of, t_of = scores.tolist(), t.tolist()
        for key, r in last.items():
            found = raised.get(key)
            score, at = score_of[r], t_of[r]
            if found is not None:
                score = max(score, found.confidence)
            client = clients.get(key)
            if client is not None and client.excess > score:
                score = client.excess
            store[key] = (score, at)
            if due is not None:
                due.add(key, at)

    # -- upkeep and snapshots ----------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Forget idle clients, chains and bursts; outcomes are kept ``keep`` seconds.

        Each map's keys wait in a :class:`~botguard.model._due.DueQueue`, so a sweep looks only at
        keys that may be due. A chain goes once its last step is older than ``link_window`` (no page
        or head can name it then); one whose pages were all taken over by others waits until then.
        """
        rules = self.rules
        gone = self._unraise
        cutoff = now - rules.client_ttl
        dropped = self._due_clients.expire(self.clients, cutoff, lambda client: client.last)
        gone.update(dropped)
        if self._ids:
            ids, bare = self._ids, self._bare_ids
            for key in dropped:
                found = ids.get(key)
                if found is not None:
                    bare[found] = 0
        horizon = now - rules.link_window
        self._due_pages.expire(self.pages, horizon, lambda page: page.t)
        for template, head in self._due_heads.pop_before(horizon):
            heads = self.heads.get(template)
            chain = None if heads is None else heads.get(head)
            if heads is None or chain is None:
                continue
            if chain.last < horizon:
                del heads[head]
                if not heads:
                    del self.heads[template]
            else:
                self._due_heads.add((template, head), chain.last)
        self._due_chains.expire(self.chains, horizon, lambda chain: chain.last)
        self._expire_bursts(now)
        if self._ids and len(self._id_keys) > 2 * len(self.clients) + _IDS_SLACK:
            self._renumber()
        if math.isfinite(rules.keep):
            old = now - rules.keep
            gone.update(self._due_scores.expire(self.scores, old, lambda score: score[1]))
            for key in gone:
                if key in self.raised_ and key not in self.scores and key not in self.clients:
                    del self.raised_[key]
        gone.clear()

    def _expire_bursts(self, now: float) -> None:
        """Forget idle burst keys; a key not idle yet waits until it can be (its window empty and
        its usual rate faded), a little earlier to be safe from rounding."""
        rules = self.rules
        for key in self._due_bursts.pop_before(now):
            burst = self.bursts.get(key)
            if burst is None:
                continue
            if _idle(burst, now, rules, self._tau):
                del self.bursts[key]
                continue
            newest = burst.newest
            at = -math.inf if newest is None else newest + rules.burst_window
            if burst.mass > _FADED:
                at = max(at, burst.mass_at + self._tau * math.log(burst.mass / _FADED))
            self._due_bursts.add(key, max(at - 1.0, now))

    def to_json(self) -> dict[str, Any]:
        """Everything the book holds, as JSON (chains by number, clients by (ip, user agent))."""
        chains = {id(c): c for c in self.chains.values()}
        return {
            "next": self._next,
            "clients": [
                [
                    list(c.key),
                    c.first,
                    c.last,
                    c.pages,
                    c.assets,
                    c.follows,
                    c.own_steps,
                    c.walk_last,
                    list(c.recent),
                    c.hosting,
                    c.orphans,
                    c.excess,
                    c.kept,
                ]
                for c in self.clients.values()
            ],
            "chains": [
                [
                    c.sid,
                    c.kind,
                    c.template,
                    c.first,
                    c.last,
                    c.head,
                    [list(k) for k in c.clients],
                    c.qualified,
                ]
                for c in chains.values()
            ],
            "heads": {tpl: {str(h): c.sid for h, c in heads.items()} for tpl, heads in self.heads.items()},
            "pages": [
                [path, None if p.chain is None else p.chain.sid, p.t, list(p.client), p.popular]
                for path, p in self.pages.items()
            ],
            "bursts": {
                key: [
                    [[t, list(self._member(k))] for t, k in b.window],
                    b.mass,
                    b.mass_at,
                    b.qualified_at,
                    b.expected,
                ]
                for key, b in self.bursts.items()
            },
            "raised": [
                [r.ip, r.user_agent, r.signature, r.kind, r.reason, r.support, r.confidence, r.at, r.action]
                for r in self.raised_.values()
            ],
            "scores": [[ip, ua, s, t] for (ip, ua), (s, t) in self.scores.items()],
            "served": self.served.to_json(),
            "started": self.started,
            "trust": self.trust,
        }

    def load_json(self, data: Mapping[str, Any] | None) -> None:
        """Replace the book with what :meth:`to_json` wrote (an older snapshot has none: empty)."""
        self._reset()
        if not data:
            return
        self._next = data["next"]
        for row in data["clients"]:
            key, first, last, pages, assets, follows, steps, walk_last, recent, hosting, *more = row
            c = Client(
                tuple(key), first, last, pages, assets, follows, steps, dict(walk_last), hosting=hosting,
                orphans=more[0] if more else 0, excess=more[1] if len(more) > 1 else 0.0,
                kept=more[2] if len(more) > 2 else 0.0,
            )  # fmt: skip
            c.recent.extend(recent)
            self.clients[c.key] = c
        for sid, kind, template, first, last, head, members, qualified in data["chains"]:
            self.chains[sid] = Chain(
                sid, kind, template, first, last, head, {tuple(m) for m in members}, qualified
            )
        for template, heads in data["heads"].items():
            self.heads[template] = {int(h): self.chains[sid] for h, sid in heads.items()}
        for path, sid, t, client, popular in data["pages"]:
            chain = None if sid is None else self.chains[sid]
            self.pages[path] = _Page(chain, t, tuple(client), popular)
        for key, (window, mass, mass_at, qualified_at, expected) in data["bursts"].items():
            if self._ring is None:
                self.bursts[key] = Burst(
                    deque((t, tuple(k)) for t, k in window), mass, mass_at, qualified_at, expected
                )
                continue
            ring = self.bursts[key] = self._ring(mass_at, self._ring_rules)
            for t, k in window:
                ring.push(t, self._client_id(tuple(k)))
            ring.mass, ring.qualified_at, ring.expected = mass, qualified_at, expected
        for ip, ua, signature, kind, reason, support, confidence, at, action in data["raised"]:
            self.raised_[(ip, ua)] = ClientRaise(
                ip, ua, signature, kind, reason, support, confidence, at, action
            )
        self.scores = {(ip, ua): (s, t) for ip, ua, s, t in data["scores"]}
        self.served.load_json(data.get("served"))
        self.started = data.get("started")
        self.trust = list(data.get("trust") or [0.0, 0.0, 0.0])
        self._queue_all()

    def _queue_all(self) -> None:
        """Queue every key of a loaded book for the next sweep to look at."""
        never = -math.inf
        for client in self.clients:
            self._due_clients.add(client, never)
        for path in self.pages:
            self._due_pages.add(path, never)
        for sid in self.chains:
            self._due_chains.add(sid, never)
        for burst in self.bursts:
            self._due_bursts.add(burst, never)
        if math.isfinite(self.rules.keep):
            for scored in self.scores:
                self._due_scores.add(scored, never)
        for template, heads in self.heads.items():
            for head in heads:
                self._due_heads.add((template, head), never)
        self._unraise.update(self.raised_)


def burst_excess(n: int, expected: float) -> float:
    """The share of a burst key's ``n`` new bare clients in its window that its usual rate
    (``expected`` clients per window) does not explain, less :data:`_EXCESS_SHRINK` clients (a
    quiet key's second arrival is chance, not a campaign), at most :data:`_EXCESS_CAP`: below the
    signature book's default high-score threshold (the book caps it at the configured one), so it
    ranks clients and does not by itself make a request count towards a rule candidate."""
    return max(0.0, min(_EXCESS_CAP, 1.0 - (expected + _EXCESS_SHRINK) / n)) if n else 0.0


def _idle(burst: Burst, now: float, rules: CampaignRules, tau: float) -> bool:
    """A key with nothing in its window whose usual rate has faded to nothing."""
    newest = burst.newest
    if newest is not None and newest >= now - rules.burst_window:
        return False
    return burst.mass * math.exp(-(now - burst.mass_at) / tau) < _FADED


def _describe(key: str) -> str:
    """A burst key in words for a reason line (agents shortened)."""
    kind, _, rest = key.partition("=")
    if kind == "net":
        return f"network {rest}"
    head, _, shape = rest.partition("|")
    if kind == "asn":
        return f"AS{head} ({shape})"
    return f"agent {head[:60]!r} ({shape})"
