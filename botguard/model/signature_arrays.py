"""The signature book with its statistics in the compiled kernel (``botguard.model._sigbook``).

Why: folding a micro-batch into :class:`~botguard.model.signatures.SignatureBook` is a Python
loop over ~25 keys, each a dict of stats objects, sets and deques; a kernel that walked those
same objects saved only 1.17x of that part. Here the state itself lives in C: one slot per key,
its counts, float sums, times and proposal as struct-of-arrays, its capped ip/net/agent sets as
small id arrays, its label counts and its last samples. Python interns the strings (keys to
slots, ips/nets/agents/label sources to name ids: a log's strings, NUL or lone surrogates or
huge, are only ever dict keys) and hands a micro-batch over as columns; one C call folds it.

The pure book stays the twin and oracle (tests/model/test_sigbook_kernel.py): the kernel sums a
key's groups in group order and keeps the twin's soft caps, so every statistic has the same
value. Qualification, candidates, snapshots (the same npz columns) and JSON use the twin's code
on stats materialised from the kernel for the keys they read.

Memory stays bounded: an expired key's slot is freed for the next new key, and the name table
is compacted (the ids still held by a live key renumbered) once it doubled since the last time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from itertools import accumulate, chain, repeat
from operator import attrgetter
from types import ModuleType
from typing import Any

from botguard.model.labels import POSITIVE
from botguard.model.signatures import CandidateRules, SignatureBook, SignatureGroup, SignatureStats
from botguard.native import kernel

__all__ = ["ArraySignatureBook", "signature_book"]

#: The label source whose count is the ``verified`` statistic: always name 0.
_VERIFIED = "verified"
#: Names are compacted only past this many (a small table is not worth a sweep).
_COMPACT_AT = 4096
_DEFAULT_RULES = CandidateRules()
#: What the kernel reads of each group, in one C-level call per group.
_GROUP_COLUMNS = attrgetter("keys", "ips", "nets", "agents", "labels", "n", "high", "psum", "human", "x")


def signature_book(
    rules: CandidateRules = _DEFAULT_RULES, welcome: Callable[[str], bool] | None = None
) -> SignatureBook:
    """The kernel's book when the kernel is built (and not turned off), else the pure one."""
    native = kernel("model._sigbook")
    if native is None:
        return SignatureBook(rules, welcome)
    return ArraySignatureBook(native, rules, welcome)


class ArraySignatureBook(SignatureBook):
    """A :class:`SignatureBook` whose statistics live in the kernel (see the module docstring)."""

    def __init__(
        self,
        native: ModuleType,
        rules: CandidateRules = _DEFAULT_RULES,
        welcome: Callable[[str], bool] | None = None,
    ) -> None:
        self.rules = rules
        self.welcome = welcome
        self._decay = 0.5 ** (1.0 / rules.window)
        self._oldest = math.inf
        self._native = native
        self._reset()

    def _reset(self) -> None:
        """An empty state: no key, only the name ``verified``."""
        rules = self.rules
        self._state = self._native.Book(
            rules.max_ips, rules.samples, self._decay, 0, rules.min_requests,
            min(rules.min_ips, rules.min_ips_named), rules.min_requests_single_net,
            rules.max_human_share, rules.lcb,
        )  # fmt: skip
        self._slot: dict[str, int] = {}  # key -> slot, in first-seen order (the twin's dict order)
        self._key_of: list[str | None] = []  # slot -> key (None: free)
        self._free: list[int] = []
        self._names: dict[str, int] = {_VERIFIED: 0}
        self._name_of: list[str] = [_VERIFIED]
        self._names_kept = 1  # names alive after the last compaction
        self._proposed_keys: dict[str, None] = {}

    # -- the state as the twin's objects -----------------------------------------------------
    @property
    def stats(self) -> dict[str, SignatureStats]:
        """Every key's statistics, materialised (a copy: changing it changes nothing)."""
        return {key: self._stats_of(key, slot) for key, slot in self._slot.items()}

    @stats.setter
    def stats(self, stats: Mapping[str, SignatureStats]) -> None:
        self._reset()
        for key, one in stats.items():
            self._put(key, one)

    def __len__(self) -> int:
        return len(self._slot)

    def _stats_of(self, key: str, slot: int, scalars: tuple[Any, ...] | None = None) -> SignatureStats:
        (first, last, requests, recent_n, recent_high, recent_p, verified, human, proposed, to_candidate,
         welcome, _, _) = scalars or self._state.scalars(slot)  # fmt: skip
        ips, nets, agents, label_ids, label_counts, samples = self._state.sets(slot)
        name = self._name_of
        return SignatureStats(
            first_seen=first,
            last_seen=last,
            requests=requests,
            recent_n=recent_n,
            recent_high=recent_high,
            recent_p=recent_p,
            ips={name[i] for i in ips},
            nets={name[i] for i in nets},
            verified=verified,
            human=human,
            labels={name[i]: c for i, c in zip(label_ids, label_counts)},
            agents={name[i] for i in agents},
            samples=deque(samples, maxlen=self.rules.samples),
            proposed_at=proposed,
            requests_to_candidate=to_candidate,
            welcome=welcome,
        )

    def _put(self, key: str, stats: SignatureStats) -> None:
        slot = self._new_slot(key)
        scalars = (
            float(stats.first_seen), float(stats.last_seen), int(stats.requests), float(stats.recent_n),
            float(stats.recent_high), float(stats.recent_p), int(stats.verified), int(stats.human),
            math.nan if stats.proposed_at is None else float(stats.proposed_at),
            -1 if stats.requests_to_candidate is None else int(stats.requests_to_candidate),
            int(stats.welcome),
        )  # fmt: skip
        labels = list(stats.labels)
        ids = [self._intern(list(values)) for values in (stats.ips, stats.nets, stats.agents, labels)]
        counts = [int(c) for c in stats.labels.values()]
        self._state.put(slot, len(self._name_of), scalars, *ids, counts, list(stats.samples))
        if stats.proposed_at is not None:
            self._proposed_keys[key] = None
        self._oldest = min(self._oldest, float(stats.last_seen))

    def _proposed(self) -> list[tuple[str, SignatureStats]]:
        return [(key, self._stats_of(key, self._slot[key])) for key in self._proposed_keys]

    # -- interning ---------------------------------------------------------------------------
    def _intern(self, strings: Iterable[str]) -> list[int]:
        """Each string's name id (a new string gets the next id)."""
        values = list(strings)
        ids = list(map(self._names.get, values, repeat(-1)))
        if -1 in ids:
            names, name_of = self._names, self._name_of
            for i, value in enumerate(values):
                if ids[i] < 0:
                    number = names.get(value)
                    if number is None:
                        number = names[value] = len(name_of)
                        name_of.append(value)
                    ids[i] = number
        return ids

    def _new_slot(self, key: str) -> int:
        slot = self._free.pop() if self._free else len(self._key_of)
        if slot == len(self._key_of):
            self._key_of.append(key)
            self._state.reserve(slot + 1)
        else:
            self._key_of[slot] = key
        self._slot[key] = slot
        return slot

    def _slots(self, keys: list[str]) -> tuple[list[int], list[str]]:
        """Each key's slot (a new key gets a free one) and the keys that are new."""
        slots = list(map(self._slot.get, keys, repeat(-1)))
        new: list[str] = []
        if -1 in slots:
            for i, key in enumerate(keys):
                if slots[i] < 0:
                    slot = self._slot.get(key)
                    if slot is None:
                        slot = self._new_slot(key)
                        new.append(key)
                    slots[i] = slot
        return slots, new

    def _forget(self, key: str) -> None:
        slot = self._slot.pop(key)
        self._key_of[slot] = None
        self._free.append(slot)
        self._proposed_keys.pop(key, None)

    # -- a micro-batch -------------------------------------------------------------------------
    def add_groups(
        self,
        groups: Sequence[SignatureGroup],
        now: float,
        weight: Callable[[str], float] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> list[str]:
        self._oldest = min(self._oldest, now)
        if not groups:
            return []
        (key_sets, ip_sets, net_sets, agent_sets, label_sets, n, high, psum, human,
         xs) = zip(*map(_GROUP_COLUMNS, groups))  # fmt: skip
        keys = list(chain.from_iterable(key_sets))
        slots, new = self._slots(keys)
        ip_ids = self._intern(chain.from_iterable(ip_sets))
        net_ids = self._intern(chain.from_iterable(net_sets))
        agent_ids = self._intern(chain.from_iterable(agent_sets))
        label_ids = self._intern(chain.from_iterable(label_sets))
        try:
            fresh = self._state.fold(
                now, len(self._name_of), slots, _offsets(key_sets),
                [True] * len(keys) if known is None else list(map(known, keys)),
                n, high, psum, human, self._welcome_flags(agent_sets, label_sets), xs,
                ip_ids, _offsets(ip_sets), net_ids, _offsets(net_sets), agent_ids, _offsets(agent_sets),
                label_ids, list(chain.from_iterable(map(dict.values, label_sets))), _offsets(label_sets),
            )  # fmt: skip
        except BaseException:
            for key in new:  # the kernel changed nothing: the keys it was to create go again
                self._state.drop(self._slot[key])
                self._forget(key)
            raise
        self._oldest = min(self._oldest, now)
        proposed = self._propose(fresh, now, weight)
        # Every address of the batch was interned, also those a full key no longer keeps: without
        # this, busy keys that never expire would grow the name table with each new address.
        self._compact_names()
        return proposed

    def _welcome_flags(
        self, agent_sets: Sequence[set[str]], label_sets: Sequence[dict[str, int]]
    ) -> list[bool]:
        """Whether each group's client is a welcome service (see :meth:`_welcome_groups`)."""
        spared = self.welcome
        if spared is None:
            return [False] * len(agent_sets)
        return [
            any(map(spared, agents)) and not POSITIVE.intersection(labels)
            for agents, labels in zip(agent_sets, label_sets)
        ]

    def _propose(self, slots: list[int], now: float, weight: Callable[[str], float] | None) -> list[str]:
        """The keys past the kernel's scalar bars that qualify, proposed now (the twin's order).

        The key's own weight is read before its sets are materialised: :meth:`qualifies` reads
        it next and most keys past the bars stop there, batch after batch."""
        fresh = []
        for slot in slots:
            key = self._key_of[slot]
            assert key is not None  # the kernel returns slots of keys it folded
            if key.startswith("ua_fam_x_asn=") or (weight is not None and weight(key) <= 0):
                continue  # a cross has no single-match form (match_of): never a candidate
            if self.qualifies(key, self._stats_of(key, slot), weight):
                self._state.propose(slot, now)
                self._proposed_keys[key] = None
                fresh.append(key)
        return fresh

    # -- upkeep ----------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        horizon = now - self.rules.ttl
        if self._oldest >= horizon:
            return 0
        dropped, self._oldest = self._state.expire(horizon)
        for slot in dropped:
            key = self._key_of[slot]
            assert key is not None
            self._forget(key)
        if dropped:
            self._compact_names()
        return len(dropped)

    def _compact_names(self) -> None:
        """Renumber the names a live key still holds once the table doubled since the last time."""
        total = len(self._name_of)
        if total < _COMPACT_AT or total < 2 * self._names_kept:
            return
        used = self._state.names_used(total)
        used[0] = 1  # "verified" stays name 0
        kept = [i for i, flag in enumerate(used) if flag]
        new_of = [-1] * total
        for new, old in enumerate(kept):
            new_of[old] = new
        self._state.renumber(new_of)
        self._name_of = [self._name_of[i] for i in kept]
        self._names = {name: i for i, name in enumerate(self._name_of)}
        self._names_kept = len(kept)


def _offsets(runs: Iterable[Sized]) -> list[int]:
    """Where each run starts in the runs laid end to end, and their total: ``[0, a, a + b, ...]``."""
    return list(accumulate(map(len, runs), initial=0))
