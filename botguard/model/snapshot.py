"""Stream learner snapshots: the whole state in one directory, written atomically, read back.

A snapshot directory holds ``trainer.npz`` and ``scorer.npz`` (the two tables), ``signatures.npz``
(signature statistics and the string table) and ``state.json`` (clock, counters, actors with
their join buffers, the open micro-batch, campaign signatures). Version 3 adds the open
micro-batch and the campaigns; version 2 stores signatures and buffered keys as ids into the
string table; versions 1 (all JSON) and 2 are still read.

Atomic: files go to a temporary directory beside the target, are fsynced, and the directory is
renamed into place with ``os.replace``; the previous snapshot is removed only afterwards. A
crash at any point leaves either the old or the new snapshot readable by :func:`read`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botguard.catalog import Catalog
from botguard.model._actors import Actor, actor_uid
from botguard.model.labels import ActorEvidence, Label
from botguard.model.learner import OnlineLR
from botguard.model.records import StreamCounters
from botguard.model.signatures import SignatureBook
from botguard.model.table import StringTable, load_arrays, save_arrays

SNAPSHOT_VERSION = (
    3  # 3: + open micro-batch and campaigns; 2: signatures and pending keys as string ids; 1: JSON
)

_EVIDENCE = (
    "identity",
    "browser",
    "first",
    "last",
    "requests",
    "pages",
    "assets",
    "referers",
    "invalid",
    "disallowed",
    "honeypot",
    "fast_pages",
    "last_page",
)


@dataclass(frozen=True, slots=True)
class StreamState:
    """A learner's state besides its tables and signatures: stream clock, counters, upkeep, actors."""

    clock: float
    counters: StreamCounters
    batches: int  # micro-batches so far (expiry sweeps run every ``maintenance_every``)
    last_age: float | None  # stream time the admission sketch was last halved
    actors: dict[tuple[str, str], Actor]
    open_batch: dict[str, Any] | None = None  # the micro-batch still taking requests
    campaigns: dict[str, Any] | None = None  # campaign signatures and raised clients


def write(
    directory: str | os.PathLike[str],
    trainer: OnlineLR,
    scorer: OnlineLR,
    book: SignatureBook,
    state: StreamState,
) -> Path:
    """Write a complete snapshot directory at ``directory``, or nothing (see the module docstring)."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        trainer.save(tmp / "trainer.npz")
        scorer.save(tmp / "scorer.npz")
        strings = StringTable()
        data = _state_json(state, strings)
        arrays = book.to_arrays(strings)
        arrays.update(strings.to_arrays())
        save_arrays(tmp / "signatures.npz", arrays, compress=True)
        _write_json(tmp / "state.json", data)  # last: its presence marks a complete snapshot
        _fsync_dir(tmp)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _remove_leftovers(target)
    return target


def read(
    directory: Path, trainer: OnlineLR, scorer: OnlineLR, book: SignatureBook, catalog: Catalog
) -> StreamState:
    """Load a snapshot's tables and signatures into ``trainer``, ``scorer`` and ``book``; return the rest.

    Actors whose crawler the ``catalog`` no longer names are judged as unknown.
    """
    state = json.loads((directory / "state.json").read_text(encoding="utf-8"))
    version = state.get("version")
    if version not in (1, 2, SNAPSHOT_VERSION):
        raise ValueError(f"snapshot version {version}, expected {SNAPSHOT_VERSION}")
    trainer.load(directory / "trainer.npz")
    scorer.load(directory / "scorer.npz")
    strings: Sequence[str] = ()
    if version == 1:  # signatures as JSON, pending parts as key lists
        book.load_json(state["signatures"])
    else:
        arrays = load_arrays(directory / "signatures.npz")
        strings = StringTable.from_arrays(arrays).strings
        book.load_arrays(arrays, strings)
    actors = {(a["ip"], a["ua"]): _actor_from_json(a, catalog, strings) for a in state["actors"]}
    return StreamState(
        state["clock"], StreamCounters(**state["counters"]), state["batches"], state["last_age"], actors,
        state.get("open_batch"), state.get("campaigns"),
    )  # fmt: skip


def complete(target: Path) -> Path:
    """The snapshot directory to read: the target, else an old one moved aside by an interrupted write.

    If a crash happened between moving the old snapshot aside and renaming the new one into
    place, the old one (``.NAME.old.*``) is the last complete snapshot.
    """
    if (target / "state.json").is_file():
        return target
    olds = sorted(target.parent.glob(f".{target.name}.old.*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds:
        if (old / "state.json").is_file():
            return old
    raise FileNotFoundError(f"no complete snapshot at {target}")


def _state_json(state: StreamState, strings: StringTable) -> dict[str, Any]:
    c = state.counters
    return {
        "version": SNAPSHOT_VERSION,
        "clock": state.clock,
        "batches": state.batches,
        "last_age": state.last_age,
        "counters": {
            "events": c.events,
            "trained": c.trained,
            "labelled_actors": c.labelled_actors,
            "expired_unlabelled": c.expired_unlabelled,
            "deltas": c.deltas,
            "last_publish": c.last_publish,
            "last_snapshot": state.clock,
        },
        "actors": [_actor_to_json(ip, ua, a, strings) for (ip, ua), a in state.actors.items()],
        "open_batch": state.open_batch,
        "campaigns": state.campaigns,
    }


def _actor_to_json(ip: str, ua: str, actor: Actor, strings: StringTable) -> dict[str, Any]:
    ev = actor.evidence
    label = actor.label
    return {
        "ip": ip,
        "ua": ua,
        "crawler": ev.crawler.name if ev.crawler is not None else None,
        "evidence": {k: getattr(ev, k) for k in _EVIDENCE},
        "robots_first": actor.robots_first,
        "label": [label.unwanted, label.source, label.decided_at] if label is not None else None,
        "pending": [[[strings.ids(part) for part in parts], t] for parts, t in actor.pending],
        "minute": actor.minute,
        "trained": actor.trained_this_minute,
    }


def _actor_from_json(data: Mapping[str, Any], catalog: Catalog, strings: Sequence[str] = ()) -> Actor:
    crawler = None
    if data["crawler"] is not None:
        try:
            crawler = catalog.by_name(data["crawler"])
        except KeyError:  # a catalogue without it: the actor is judged as unknown
            crawler = None
    ev = ActorEvidence(crawler=crawler, **data["evidence"])
    label = Label(*data["label"]) if data["label"] is not None else None
    if strings:  # version 2: each part is a list of string ids
        pending = [
            (tuple(tuple(strings[k] for k in part) for part in parts), float(t))
            for parts, t in data["pending"]
        ]
    else:
        pending = [(tuple(tuple(part) for part in parts), float(t)) for parts, t in data["pending"]]
    return Actor(
        ev,
        data["robots_first"],
        label,
        pending,
        data["minute"],
        data["trained"],
        uid=actor_uid(data["ip"], data["ua"]),
    )


def _write_json(path: Path, data: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_leftovers(target: Path) -> None:
    """Delete what interrupted snapshots left beside ``target`` (temporary and moved-aside dirs).

    Only called once a new snapshot is complete in place, so nothing here is still needed.
    """
    for path in target.parent.glob(f".{target.name}.*"):
        if path.is_dir() and (path.name.endswith(".tmp") or ".old." in path.name):
            shutil.rmtree(path, ignore_errors=True)
