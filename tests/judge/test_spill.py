"""What a scan stores at its end is spilled to a temporary file and stored a piece at a time
(botguard.judge._spill): the same bytes as before, never held whole in memory."""

from __future__ import annotations

import errno
import io
import os
import tracemalloc
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from botguard import judge
from botguard.app import Env, ScanRequest, run_scan
from botguard.config import load_settings
from botguard.judge import ScanResult, _spill, incremental
from botguard.judge._seal import DIGEST_BYTES, SEAL_BYTES, seal, state_key
from botguard.judge._spill import PIECE_BYTES, Spill
from botguard.judge.partial import Partial, partial_to_bytes
from botguard.logs.records import ParseStats
from botguard.robots.sources import RobotsOption
from botguard.state import State

#: A stored partial well above a piece, so holding it whole shows.
BLOB_BYTES = 12 * PIECE_BYTES


def test_a_spilled_partial_is_the_bytes_partial_to_bytes_makes() -> None:
    """Written after other bytes of the same file, so its digest covers only its own."""
    part = Partial(stats=ParseStats(lines=7, parsed=5, malformed=2))
    spill = Spill()
    spill.add(b"bytes of another file's partial")
    kept = incremental.encoded(incremental.Kept(_file_stub(), "combined", part), spill)
    assert kept.whole is None and kept.encoded is not None
    assert kept.encoded.start > 0
    assert not isinstance(kept.encoded.file, io.BytesIO), "written to memory: the file's write failed"
    assert kept.encoded.read() == partial_to_bytes(part)


def _file_stub() -> incremental.LogFile:
    return incremental.LogFile("access.log", 1, 2, 10, compressed=False, storable=True)


def test_keep_stores_a_partial_a_piece_at_a_time(tmp_path: Path) -> None:
    """The stored row is the spilled bytes and their seal, and storing it never allocates
    (Python's heap, traced) anything near its size: binding it held it twice more."""
    log = tmp_path / "access.log"
    log.write_bytes(b'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n')
    file = incremental.look(str(log))
    assert file is not None
    blob = os.urandom(BLOB_BYTES)  # keep() seals its last DIGEST_BYTES, as a partial's digest
    kept = incremental.Kept(file, "combined", None, encoded=Spill().add(blob))
    with State(tmp_path / "state.db") as state:
        tracemalloc.start()
        try:
            assert incremental.keep(state, [kept], "inputs") == ""
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        key = state_key(state)
        (stored,) = state.conn.execute("SELECT partial FROM scan_partials").fetchone()
    assert key is not None
    assert stored[:-SEAL_BYTES] == blob
    head, tail = incremental._probes(file.path, file.size)
    place = incremental._partial_place(
        file.device, file.inode, file.size, head, tail, file.compressed, "inputs", "combined"
    )
    assert stored[-SEAL_BYTES:] == seal(key, blob[-DIGEST_BYTES:], place)
    assert peak < 3 * PIECE_BYTES, f"storing a {BLOB_BYTES:,}-byte partial allocated {peak:,} bytes at once"


def test_a_stored_tail_is_written_only_on_top_of_its_partial(tmp_path: Path) -> None:
    """A tail whose partial is not the stored one inserts no row: nothing is written into a
    blob that is not there (the tail's INSERT ... WHERE EXISTS matched nothing)."""
    log = tmp_path / "access.log"
    log.write_bytes(b"x\n")
    file = incremental.look(str(log))
    assert file is not None
    tail = incremental.Kept(
        file, "combined", None, base_offset=1, is_tail=True, encoded=Spill().add(os.urandom(4096))
    )
    with State(tmp_path / "state.db") as state:
        incremental.keep(state, [tail], "inputs")
        count = state.conn.execute("SELECT count(*) FROM scan_partial_tails").fetchone()[0]
    assert count == 0


def test_without_a_temporary_directory_the_bytes_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """No temporary file can be made: the spill is in memory, and gives the same bytes back."""

    def refused(**_: object) -> None:
        raise OSError("no temporary directory")

    monkeypatch.setattr(_spill.tempfile, "TemporaryFile", refused)
    spill = Spill()
    spill.add(b"before")
    spilled = spill.add(b"abc" * 1000)
    assert isinstance(spilled.file, io.BytesIO)
    assert spilled.read() == b"abc" * 1000 and spilled.last(4) == b"cabc"
    assert list(spilled.pieces(1000)) == [
        b"abc" * 333 + b"a",
        b"bc" + b"abc" * 332 + b"ab",
        b"c" + b"abc" * 333,
    ]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example_scan(tmp_path: Path) -> ScanResult:
    request = ScanRequest(
        paths=(str(EXAMPLES / "access.log"),), settings=load_settings(str(EXAMPLES / "botguard.yaml")),
        robots=RobotsOption(default=str(EXAMPLES / "robots.txt")), dns=False, save=False,
    )  # fmt: skip
    return run_scan(request, Env(state_path=str(tmp_path / "state.db"))).result


def test_a_big_scan_runs_the_model_step_without_the_judges_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past JUDGE_ROWS clients the time and path counts wait in the spill file while the model
    step runs (it never reads them), and the traffic summary made from them after is the same."""
    from botguard.app import scan
    from botguard.model import ScanReplay

    whole = _example_scan(tmp_path)
    seen: list[bool] = []

    real = ScanReplay.outcome

    def noted(self: ScanReplay, clients: pl.DataFrame) -> Any:
        seen.append(held())
        return real(self, clients)

    held = _activity_held(monkeypatch)
    monkeypatch.setattr(ScanReplay, "outcome", noted)
    monkeypatch.setattr(judge, "JUDGE_ROWS", 40)
    monkeypatch.setattr(scan, "JUDGE_ROWS", 40)
    cut = _example_scan(tmp_path)
    assert seen == [False]
    assert cut.traffic is not None and cut.traffic == whole.traffic
    assert cut.clients.equals(whole.clients)


def _activity_held(monkeypatch: pytest.MonkeyPatch) -> Callable[[], bool]:
    """Whether the judge's last activity frames are alive now (weak references to them)."""
    frames: list[weakref.ref[pl.DataFrame]] = []
    activity = judge._activity

    def noted(partial: Partial) -> Any:
        found = activity(partial)
        if found is not None:
            frames[:] = [weakref.ref(found.counts), weakref.ref(found.disallowed)]
        return found

    monkeypatch.setattr(judge, "_activity", noted)
    return lambda: bool(frames) and any(frame() is not None for frame in frames)


class _FillingFile:
    """A temporary file on a filesystem with ``room`` bytes: a write past them writes what fits
    and fails (ENOSPC), as a buffered file on a full disk does. It has no descriptor, so every
    byte (polars' too) goes through :meth:`write`."""

    def __init__(self, path: Path, room: int) -> None:
        self._file = path.open("w+b")
        self._room = room

    def write(self, data: bytes) -> int:
        view = memoryview(data).cast("B")
        fits = max(0, self._room - self._file.tell())
        self._file.write(view[:fits])
        if fits < len(view):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(view)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()


def _grown_scans(tmp_path: Path, room: int | None, monkeypatch: pytest.MonkeyPatch) -> list[ScanResult]:
    """A saved scan of the example's first half, then of the whole example appended to it (each
    with a temporary directory of ``room`` bytes a file; None: the real one), then one more of
    the unchanged log with the real temporary directory (what the first two stored)."""
    tmp_path.mkdir()
    log = tmp_path / "access.log"
    lines = (EXAMPLES / "access.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:1800]))
    made = iter(range(1_000))

    def filling(**_: object) -> _FillingFile:
        assert room is not None
        return _FillingFile(tmp_path / f"spill-{next(made)}", room)

    def scanned() -> ScanResult:
        request = ScanRequest(
            paths=(str(log),), settings=load_settings(str(EXAMPLES / "botguard.yaml")),
            robots=RobotsOption(default=str(EXAMPLES / "robots.txt")), dns=False,
        )  # fmt: skip
        return run_scan(request, Env(state_path=str(tmp_path / "state.db"))).result

    with monkeypatch.context() as patched:
        if room is not None:
            patched.setattr(_spill.tempfile, "TemporaryFile", filling)
        results = [scanned()]
        log.write_bytes(b"".join(lines))
        results.append(scanned())
    return [*results, scanned()]


@pytest.mark.parametrize("room", [0, 30_000, 60_000, 140_000])
def test_a_temporary_directory_that_fills_up_costs_memory_not_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    """Spilled in 40-client shards, the example's first scan writes ~160 kB to temporary files
    and the grown log's ~130 kB (a partial, shards, kept rows, counts): whichever of them finds
    the filesystem full, the scans give what they give with room to spare, and what they stored
    gives the next scan the same again."""
    from botguard.app import scan

    monkeypatch.setattr(judge, "JUDGE_ROWS", 40)
    monkeypatch.setattr(scan, "JUDGE_ROWS", 40)
    expected = _grown_scans(tmp_path / "roomy", None, monkeypatch)
    found = _grown_scans(tmp_path / "full", room, monkeypatch)
    for want, got in zip(expected, found, strict=True):
        assert got.clients.equals(want.clients)
        assert got.summary == want.summary and got.traffic == want.traffic
    assert found[2].clients.equals(found[1].clients)


class _FillingDisk(io.FileIO):
    """A raw file on a filesystem with ``room`` bytes: a write past them writes what fits, and
    the next one fails (ENOSPC), as the kernel's do."""

    room = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        fits = max(0, self.room - self.tell())
        if not fits and len(view):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(view[:fits])


def test_what_was_spilled_before_a_full_disk_is_read_back(tmp_path: Path) -> None:
    """A buffered temporary file keeps the bytes it could not write and tries them again on its
    next seek: the bytes spilled before still read back, and the write that failed goes to memory."""
    raw = _FillingDisk(tmp_path / "spill", "w+b")
    raw.room = 1_000
    spill = Spill(io.BufferedRandom(raw))
    before = spill.add(b"a" * 600)
    after = spill.add(b"b" * 5_000)  # buffered whole, then 400 bytes fit
    assert isinstance(after.file, io.BytesIO) and after.read() == b"b" * 5_000
    assert before.read() == b"a" * 600 and before.last(3) == b"aaa"
    assert spill.add(b"c" * 10).read() == b"c" * 10
