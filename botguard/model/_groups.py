"""Signature statistics of one micro-batch, grouped per actor before they reach the book.

Why group: every request of an actor carries the same signature keys (its UA product names,
network, ASN), so the walk counts client facts per group and the scores are folded once per
group (one ``bincount`` each) instead of once per request and key.
"""

from __future__ import annotations

import numpy as np

from botguard.model.signatures import SignatureGroup


class BatchGroups:
    """The groups of one micro-batch in first-seen order, and which group each request is in."""

    __slots__ = ("_index", "group_of", "groups", "last_of")

    def __init__(self) -> None:
        self.groups: dict[int, SignatureGroup] = {}  # id of the actor's signature-key tuple -> its group
        self._index: dict[int, int] = {}
        self.group_of: list[int] = []  # per request: its group's position
        self.last_of: dict[int, int] = {}  # group -> its last request (whose features are its sample)

    def see(
        self, j: int, sig: tuple[str, ...], ip: str, net: str, ua: str, label: str | None, humanlike: bool,
        max_ips: int,
    ) -> None:  # fmt: skip
        """Count request ``j`` of the micro-batch in the group of its signature keys ``sig``.

        Groups are keyed by the identity of ``sig``: an actor's keys are one memoised tuple.
        """
        gid = id(sig)
        gi = self._index.get(gid)
        if gi is None:
            gi = self._index[gid] = len(self._index)
            group = self.groups[gid] = SignatureGroup(sig)
        else:
            group = self.groups[gid]
        self.group_of.append(gi)
        self.last_of[gid] = j
        group.see(ip, net, ua, label, humanlike, max_ips)

    def fold(
        self, scores: np.ndarray, threshold: float, keys: list[str], lens: list[int], offsets: list[int]
    ) -> list[SignatureGroup]:
        """Per-group request counts, high scores and score sums (one bincount each), and each
        group's sample: the features of its last request."""
        index = np.asarray(self.group_of, dtype=np.int64)
        size = len(self.groups)
        n = np.bincount(index, minlength=size).tolist()
        high = np.bincount(index, scores > threshold, minlength=size).tolist()
        psum = np.bincount(index, scores, minlength=size).tolist()
        for g, (gid, group) in enumerate(self.groups.items()):
            group.n, group.high, group.psum = n[g], int(high[g]), psum[g]
            last = self.last_of[gid]
            group.x = dict.fromkeys(keys[offsets[last] : offsets[last] + lens[last]], 1.0)
        return list(self.groups.values())
