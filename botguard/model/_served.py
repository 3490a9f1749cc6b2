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
from botguard.native import kernel

OWN_CLIENTS = 3  # addresses whose asset requests name a host before it counts as the site's
HOST_LIMIT = 256  # hosts tracked (referer hosts of asset requests: a site has a handful)
_NEVER = float("inf")


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

    def hashes(self, nets: list[str], uas: list[str], paths: list[str]) -> np.ndarray:
        """The hashes of many (network, agent, page) triples (uint64): :func:`pair_hash` of each,
        by the campaign kernel when it is built (the same bits without a Python call, an
        f-string, an encoding and a hashlib object per triple)."""
        native = kernel("model._campaign")
        if native is None:
            return np.fromiter(map(pair_hash, nets, uas, paths), np.uint64, len(nets))
        return np.frombuffer(native.triple_hashes(nets, uas, paths), dtype=np.uint64)

    def walk(self, times: np.ndarray, hashes: np.ndarray) -> ServedWalk:
        """The filters as one call's walk in time order sees them, given the (network, agent, page)
        hashes it adds and their times: see :class:`ServedWalk`."""
        return ServedWalk(self, times, hashes)

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


class ServedWalk:
    """The served-pages filters during one call's walk: every add of the call is known before the
    walk starts (each page request adds its triple at its time), so none is made one by one; a read
    answers from the filters as they stood before the call and the adds before it, and
    :meth:`close` makes all of them at once.

    Why: setting three bits per page in Python was a good part of the walk's cost. The answers and
    the filters after :meth:`close` are those of adding and reading in order: the current filter
    of epoch ``e`` holds the adds of ``e`` (and what it held before the call, if the call began in
    ``e``), the previous filter those of ``e - 1`` (or what it held before the call).
    """

    __slots__ = ("_before", "_cells", "_epochs", "_first", "_read", "_served", "_times")

    def __init__(self, served: ServedPages, times: np.ndarray, hashes: np.ndarray) -> None:
        self._served = served
        self._times = times
        self._cells = served.current.cells_many(hashes)  # one row per hash function
        self._epochs = (times // served.memory).astype(np.int64)
        self._first: dict[int, int] | None = None
        self._read: float | None = None
        self._before = (served.epoch, served.current.bits.data, served.previous.bits.data)

    def cells(self, net: str, ua: str, path: str) -> list[int]:
        """The bit numbers of one (network, agent, page) triple."""
        return self._served.current.cells(pair_hash(net, ua, path))

    def cells_of(self, hashes: np.ndarray) -> list[list[int]]:
        """The bit numbers of many triples' hashes, one list per triple."""
        return self._served.current.cells_many(hashes).T.tolist()

    def requested(self, adds: int, t: float, cells: list[int]) -> bool:
        """Whether the triple of ``cells`` is in either filter at ``t``, after the walk's first
        ``adds`` adds (a false positive only ever says "requested")."""
        epoch = int(t // self._served.memory)
        self._read = t
        first = self._first_adds()
        before, current, previous = self._before
        size = len(current) * 8
        now, last = epoch * size, (epoch - 1) * size
        kept = epoch == before
        if all((kept and current[c >> 3] >> (c & 7) & 1) or first.get(now + c, adds) < adds for c in cells):
            return True
        turned = before is not None and epoch - 1 == before
        return all(
            (kept and previous[c >> 3] >> (c & 7) & 1)
            or (turned and current[c >> 3] >> (c & 7) & 1)
            or (last + c) in first
            for c in cells
        )

    def _first_adds(self) -> dict[int, int]:
        """(epoch, bit) -> the first add of the walk that sets it (built at the first read)."""
        if self._first is None:
            size = len(self._before[1]) * 8
            keys = (self._epochs[None, :] * size + self._cells).T.ravel()
            order = np.repeat(np.arange(len(self._epochs)), self._cells.shape[0])
            self._first = dict(zip(keys[::-1].tolist(), order[::-1].tolist()))  # the earliest wins
        return self._first

    def close(self) -> None:
        """Make the walk's adds, epoch by epoch, and turn the filters to its last read."""
        served, epochs = self._served, self._epochs
        if len(epochs):
            starts = np.flatnonzero(np.r_[True, epochs[1:] != epochs[:-1]])
            for i, j in zip(starts.tolist(), [*starts[1:].tolist(), len(epochs)]):
                served._turn(float(self._times[i]))
                served.current.add_cells(self._cells[:, i:j])
        if self._read is not None:
            served._turn(self._read)  # turning only ever moves forward: a read before the adds does nothing
