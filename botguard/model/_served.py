"""Which pages each client requested lately, and which hosts are this site's own.

Why: a browser sends, as its referer, the page it showed; a person shown a page of this site
requested it. A campaign that fakes its referer (the site's home page, the previous page of its
walk, fetched by another of its addresses) names a page of this site *its own address never
requested*. Telling that needs memory across batches and idle gaps, in bounded memory: two Bloom
filters of (network, agent, page) (the /24 or /48: see ``CampaignBook._orphan``), one per
``memory`` seconds of stream time (a triple is remembered between one and two periods), switched
at fixed multiples of ``memory`` so how the stream is cut into batches never changes an answer.
A false positive says "requested": it only ever spares a client.

The site's own hosts are learned, not configured: a host is the site's when browsers of at least
``OWN_CLIENTS`` addresses loaded page assets with a referer on it naming a page that browser
requested here (what a browser does on the page it shows; an image search's result page, whose
referer names the search engine, is no page of this site); an attacker who forges that only
hides its own referers. When each host became the site's is kept (:meth:`ServedPages.own_since`):
the stream's referer-kind feature reads it for any request, at that request's time.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import numpy as np

from botguard.model.table import PairFilter

OWN_CLIENTS = 3  # addresses whose asset requests name a host before it counts as the site's
HOST_LIMIT = 256  # hosts tracked (referer hosts of asset requests: a site has a handful)
_NEVER = float("inf")


Places = tuple[tuple[int, int], ...]  # a triple's bits in either filter (PairFilter.places)


def pair_hash(net: str, ua: str, path: str) -> int:
    """A stable 64-bit hash of (network, agent, page) (``hash()`` differs between processes)."""
    digest = hashlib.blake2b(f"{net}\0{ua}\0{path}".encode(errors="replace"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class ServedPages:
    """(address, agent, page) triples served lately, and the site's own referer hosts."""

    def __init__(self, memory: float, bits: int = 1 << 23) -> None:
        self.memory = memory
        self.current = PairFilter(bits)
        self.previous = PairFilter(bits)
        self.epoch: int | None = None
        self.hosts: dict[str, list[str]] = {}
        self.own_at: dict[str, float] = {}  # host -> stream time it became the site's

    def _turn(self, t: float) -> None:
        epoch = int(t // self.memory)
        if self.epoch is None:
            self.epoch = epoch
        elif epoch > self.epoch:
            self.previous, self.current = self.current, self.previous
            self.current.clear()
            if epoch > self.epoch + 1:
                self.previous.clear()
            self.epoch = epoch

    def places(self, nets: list[str], uas: list[str], paths: list[str]) -> list[Places]:
        """The filters' bits of many (network, agent, page) triples at once (a batch's pages, worked
        out before they are added or checked in order with :meth:`add_at` and :meth:`requested_at`)."""
        hashes = np.fromiter(map(pair_hash, nets, uas, paths), np.uint64, len(nets))
        return self.current.places_many(hashes)  # both filters have the same size

    def add_at(self, t: float, places: Places) -> None:
        """Remember that an agent requested a page from a network at ``t``, given the triple's
        :meth:`places`."""
        self._turn(t)
        self.current.add_places(places)

    def requested(self, t: float, net: str, ua: str, path: str) -> bool:
        """Whether this agent requested this page from this network in the last one or two periods."""
        return self.requested_at(t, self.current.places(pair_hash(net, ua, path)))

    def requested_at(self, t: float, places: Places) -> bool:
        """:meth:`requested` of a triple given its :meth:`places`."""
        self._turn(t)
        return self.current.has_places(places) or self.previous.has_places(places)

    def learning(self, host: str, ip: str) -> bool:
        """Whether :meth:`note_asset` of this host and address could still change what is known
        (a caller skips the check that would lead to it when not)."""
        seen = self.hosts.get(host)
        if seen is None:
            return len(self.hosts) < HOST_LIMIT
        return len(seen) < OWN_CLIENTS and ip not in seen

    def note_asset(self, host: str, ip: str, t: float) -> None:
        """An address loaded an asset with a referer on ``host`` naming a page it requested here, at ``t``."""
        seen = self.hosts.get(host)
        if seen is None:
            if len(self.hosts) >= HOST_LIMIT:
                return
            seen = self.hosts[host] = []
        if len(seen) < OWN_CLIENTS and ip not in seen:
            seen.append(ip)
            if len(seen) == OWN_CLIENTS:
                self.own_at[host] = t

    def own_since(self, host: str) -> float:
        """Stream time ``host`` became the site's (infinity: not yet). A request at ``t`` reads it
        as the site's only when this is before ``t``: a later batch never learns a host at an
        earlier time (the stream's times never go back), so the answer for a request does not
        depend on how the stream was cut into batches."""
        return self.own_at.get(host, _NEVER)

    def own(self, host: str) -> bool:
        """Whether ``host`` is one of this site's (see the module docstring)."""
        return len(self.hosts.get(host, ())) >= OWN_CLIENTS

    def to_json(self) -> dict[str, Any]:
        return {
            "memory": self.memory,
            "epoch": self.epoch,
            "current": _pack(self.current.bits),
            "previous": _pack(self.previous.bits),
            "hosts": self.hosts,
            "own_at": self.own_at,
        }

    def load_json(self, data: dict[str, Any] | None) -> None:
        """Replace the state with what :meth:`to_json` wrote (none, or another size: empty)."""
        self.epoch, self.hosts, self.own_at = None, {}, {}
        self.current.clear()
        self.previous.clear()
        if not data or data.get("memory") != self.memory:
            return
        current, previous = _unpack(data["current"]), _unpack(data["previous"])
        if current.shape != self.current.bits.shape or previous.shape != self.previous.bits.shape:
            return
        self.current.bits[:], self.previous.bits[:] = current, previous
        self.epoch = data["epoch"]
        self.hosts = {str(h): [str(ip) for ip in ips] for h, ips in data["hosts"].items()}
        # a snapshot from before the times were kept: its own hosts were the site's all along
        since = data.get("own_at") or {}
        owned = (h for h, ips in self.hosts.items() if len(ips) >= OWN_CLIENTS)
        self.own_at = {h: float(since.get(h, 0.0)) for h in owned}


def _pack(bits: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(bits.tobytes(), 1)).decode()


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
