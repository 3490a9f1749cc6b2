"""A directory of delta files shared by the workers of one consumer group: a replayable log of
the model's parameters (Monolith's training/serving split, on a shared directory).

Why: workers of one group each see part of the traffic. Each publishes its trainer's changed
rows (values, so applying a file twice is harmless) as ``WORKER.SEQ.delta.npz``, and every
``base_every`` publications its whole table as ``WORKER.SEQ.base.npz``, then removes its files
older than that base. A worker applies the others' files to its scorer in sequence order; one
that starts (or restarts) begins from each peer's latest base, so the log needs no position kept
anywhere: a restart replays from the bases and its own model comes from its own snapshot.
Files appear atomically (``save_arrays``: readers never see half a file); a file that vanished between
listing and reading was superseded by a base and is skipped.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from botguard.errors import BotguardError, Location
from botguard.model.records import Delta
from botguard.model.table import StringTable, load_arrays, save_arrays

__all__ = ["WORKER_NAME", "DeltaLog"]

#: What a worker's name may hold: it is part of file names.
WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_FILE = re.compile(r"(?P<worker>[A-Za-z0-9][A-Za-z0-9._-]{0,99})\.(?P<seq>\d{12})\.(?P<kind>delta|base)\.npz")


class DeltaLog:
    """One worker's view of the shared directory: what it writes, and what it has applied."""

    def __init__(
        self, directory: Path, worker: str, base: Callable[[], Delta], *, base_every: int = 100
    ) -> None:
        if not WORKER_NAME.fullmatch(worker):
            raise ValueError(f"bad worker name {worker!r}")
        self.directory, self.worker, self._base, self._base_every = directory, worker, base, base_every
        with _reported(directory):
            directory.mkdir(parents=True, exist_ok=True)
            own = [seq for name, seq, _ in self._files() if name == worker]
        self._seq = max(own, default=0)
        self._applied: dict[str, int] = {}  # peer -> last sequence number applied
        #: Files skipped because they could not be read (for the caller to report).
        self.warnings: list[str] = []

    def publish(self, delta: Delta) -> None:
        """Write ``delta`` as this worker's next file; every ``base_every``-th is a whole base."""
        self._seq += 1
        with _reported(self.directory):
            if self._seq % self._base_every == 0:
                self._write(self._base(), "base")
                for name, seq, kind in self._files():
                    if name == self.worker and seq < self._seq:
                        (self.directory / _name(name, seq, kind)).unlink(missing_ok=True)
            else:
                self._write(delta, "delta")

    def new_deltas(self) -> Iterator[Delta]:
        """The other workers' files not applied yet, each peer's in order (from its latest base)."""
        by_peer: dict[str, list[tuple[int, str]]] = {}
        with _reported(self.directory):
            found = self._files()
        for name, seq, kind in found:
            if name != self.worker and seq > self._applied.get(name, 0):
                by_peer.setdefault(name, []).append((seq, kind))
        for peer, files in sorted(by_peer.items()):
            files.sort()
            bases = [i for i, (_, kind) in enumerate(files) if kind == "base"]
            for seq, kind in files[bases[-1] if bases else 0 :]:
                path = self.directory / _name(peer, seq, kind)
                try:
                    delta = _read(path)
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                    self.warnings.append(f"skipped the unreadable delta file {path}: {exc}")
                    delta = None
                if delta is not None:
                    yield delta
                self._applied[peer] = seq

    def _files(self) -> list[tuple[str, int, str]]:
        found = []
        for entry in os.listdir(self.directory):
            match = _FILE.fullmatch(entry)
            if match:
                found.append((match["worker"], int(match["seq"]), match["kind"]))
        return found

    def _write(self, delta: Delta, kind: str) -> None:
        arrays = {
            "weights": np.asarray(delta.weights, dtype=np.float64),
            **StringTable(delta.keys).to_arrays("keys"),
            **StringTable(delta.tombstones).to_arrays("tomb"),
        }
        save_arrays(self.directory / _name(self.worker, self._seq, kind), arrays)


@contextmanager
def _reported(directory: Path) -> Iterator[None]:
    """The shared directory failing (gone, full, no permission): one clear error naming it."""
    try:
        yield
    except OSError as exc:
        raise BotguardError(
            f"cannot use the delta directory: {exc.strerror or exc}", Location(str(directory))
        ) from None


def _name(worker: str, seq: int, kind: str) -> str:
    return f"{worker}.{seq:012d}.{kind}.npz"


def _read(path: Path) -> Delta | None:
    """The delta in ``path``; None when a base superseded (and removed) it meanwhile."""
    try:
        arrays = load_arrays(path, stored_only=True)
    except FileNotFoundError:
        return None
    keys = tuple(StringTable.from_arrays(arrays, "keys").strings)
    weights = arrays["weights"]
    # a NaN or infinite weight would poison every score that reads its key
    if weights.dtype != np.float64 or weights.shape != (len(keys),) or not np.isfinite(weights).all():
        raise ValueError("its weights are not one finite float64 per key")
    return Delta(
        keys=keys, weights=weights.copy(), tombstones=tuple(StringTable.from_arrays(arrays, "tomb").strings)
    )
