"""The follower: whole lines only, exactly once across rename and copytruncate rotation and restarts."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from botguard.logs._malformed import MAX_LINE_BYTES
from botguard.logs.follow import LogFollower
from botguard.state import State


class Clock:
    """A settable clock, so retiring a rotated file does not need real waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, *lines: str, partial: str = "") -> None:
    with open(path, "ab") as handle:
        handle.write("".join(f"{line}\n" for line in lines).encode() + partial.encode())


def seen(follower: LogFollower, *, drain: bool = False) -> list[str]:
    """Lines handed out now, each chunk committed as a consumer would."""
    out: list[str] = []
    for chunk in follower.drain() if drain else follower.poll():
        out.extend(chunk.data.decode().splitlines())
        follower.commit(chunk)
    follower.save()
    return out


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "access.log"


def test_appended_whole_lines_only_partial_waits(log: Path) -> None:
    """A partial last line is handed out only once its newline arrives, with the right number."""
    write(log, "a", "b", partial="par")
    follower = LogFollower([str(log)])
    chunks = list(follower.poll())
    assert [c.data for c in chunks] == [b"a\nb\n"]
    assert seen(follower) == []
    write(log, "tial", "c")
    chunks = list(follower.poll())
    assert [(c.first_line_no, c.data) for c in chunks] == [(3, b"partial\nc\n")]
    assert chunks[-1].end.offset == log.stat().st_size


def test_small_chunks_keep_order_and_numbers(log: Path) -> None:
    """Reading in chunks smaller than the data hands out every line once, in order."""
    lines = [f"line {i:04d}" for i in range(500)]
    write(log, *lines)
    follower = LogFollower([str(log)], chunk_bytes=100)
    chunks = list(follower.poll())
    assert len(chunks) > 10
    assert [x for c in chunks for x in c.data.decode().splitlines()] == lines
    numbers = [c.first_line_no for c in chunks]
    counts = [c.lines for c in chunks]
    assert numbers == [1 + sum(counts[:i]) for i in range(len(chunks))]


def test_rename_rotation_every_line_once_in_order(log: Path) -> None:
    """Rename rotation: the old file is finished (also lines its writer adds after the rename),
    then the new one is read from 0; after a quiet period the old file is let go."""
    clock = Clock()
    follower = LogFollower([str(log)], retire_after=30, clock=clock)
    write(log, "1", "2")
    got = seen(follower)
    write(log, "3", "4")  # not read yet when the rotation happens
    os.rename(log, f"{log}.1")
    write(log, "6")  # the new file
    write(Path(f"{log}.1"), "5")  # nginx writes to the old file until it reopens its logs
    got += seen(follower)
    write(Path(f"{log}.1"), "5b")  # still late
    write(log, "7")
    got += seen(follower)
    assert got == ["1", "2", "3", "4", "5", "6", "5b", "7"]
    clock.now += 31
    write(log, "8")
    got += seen(follower)
    assert not follower._retired[str(log)]  # let go after being quiet for retire_after
    write(Path(f"{log}.1"), "too late")  # nobody reads a rotated file forever
    got += seen(follower)
    assert got == ["1", "2", "3", "4", "5", "6", "5b", "7", "8"]


def test_copytruncate_every_line_once_in_order(log: Path) -> None:
    """copytruncate: the lines not read before the copy come from the copy, then the live file from 0."""
    follower = LogFollower([str(log)])
    write(log, *(f"old {i}" for i in range(50)))
    got = seen(follower)
    write(log, "unread 1", "unread 2")
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    write(log, "new 1")
    got += seen(follower)
    write(log, "new 2")
    got += seen(follower)
    assert got == [f"old {i}" for i in range(50)] + ["unread 1", "unread 2", "new 1", "new 2"]


def test_copytruncate_when_the_new_file_outgrew_our_offset(log: Path) -> None:
    """A truncated file already longer than our offset is recognised by its first bytes."""
    follower = LogFollower([str(log)])
    write(log, "first 1", "first 2")
    got = seen(follower)
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    write(log, *(f"second {i}" for i in range(20)))
    got += seen(follower)
    assert got == ["first 1", "first 2"] + [f"second {i}" for i in range(20)]


def test_compressed_rotations_are_never_read(log: Path) -> None:
    """Only the live path is followed: access.log.1.gz beside it is ignored, even when named."""
    with gzip.open(f"{log}.1.gz", "wb") as handle:
        handle.write(b"old 1\nold 2\n")
    write(log, "live 1")
    follower = LogFollower([str(log)])
    assert seen(follower) == ["live 1"]
    os.rename(log, f"{log}.1")  # rotated, then compressed: the uncompressed one vanishes
    with gzip.open(f"{log}.2.gz", "wb") as handle:
        handle.write(b"live 1\nlive 2\n")
    write(log, "live 3")
    assert seen(follower, drain=True) == ["live 3"]


def test_file_appearing_later_and_vanishing(log: Path) -> None:
    """A path that does not exist yet is waited for; a deleted file's lines were all read."""
    follower = LogFollower([str(log)])
    assert seen(follower) == []
    write(log, "hello")
    assert seen(follower) == ["hello"]
    write(log, "last words")
    log.unlink()
    assert seen(follower, drain=True) == ["last words"]
    write(log, "reborn")
    assert seen(follower) == ["reborn"]


def test_overlong_line_is_cut_not_stalling(log: Path) -> None:
    """A line longer than the parser's limit is handed out cut (counted too_long) and the rest skipped."""
    write(log, "before", "x" * (MAX_LINE_BYTES * 2), "after")
    follower = LogFollower([str(log)], chunk_bytes=4096)
    lines = seen(follower)
    assert lines[0] == "before" and lines[-1] == "after" and len(lines) == 3
    assert len(lines[1]) == MAX_LINE_BYTES + 1


def test_restart_resumes_exactly(tmp_path: Path, log: Path) -> None:
    """A new follower on the same state database continues after the last committed chunk."""
    db = tmp_path / "state.db"
    write(log, "1", "2", partial="3")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower) == ["1", "2"]
    write(log, "", "4")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower) == ["3", "4"]
        assert follower.totals()[str(log)].lines == 4


def test_uncommitted_chunk_is_read_again_after_restart(tmp_path: Path, log: Path) -> None:
    """A chunk handed out but not committed (crash while processing) is not lost."""
    db = tmp_path / "state.db"
    write(log, "1", "2")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert [c.data for c in follower.poll()] == [b"1\n2\n"]  # never committed
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower) == ["1", "2"]


@pytest.mark.parametrize("rotation", ["rename", "copytruncate"])
def test_rotation_while_stopped(tmp_path: Path, log: Path, rotation: str) -> None:
    """Rotated while botguard was down: the rest of the old file first (found again by inode or
    by its first bytes), then the new file from 0."""
    db = tmp_path / "state.db"
    write(log, "1", "2")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower) == ["1", "2"]
    write(log, "3")
    if rotation == "rename":
        os.rename(log, f"{log}.1")
    else:
        shutil.copyfile(log, f"{log}.1")
        os.truncate(log, 0)
    write(log, "4")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower, drain=True) == ["3", "4"]
    write(log, "5")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower, drain=True) == ["5"]
        rows = state.conn.execute("SELECT count(*) FROM watch_offsets").fetchone()[0]
        assert rows == 2, "the live file and the last rotated one read (to place later rotations)"
    write(log, "6")
    if rotation == "rename":
        os.rename(f"{log}.1", f"{log}.2")
        os.rename(log, f"{log}.1")
    else:
        os.rename(f"{log}.1", f"{log}.2")
        shutil.copyfile(log, f"{log}.1")
        os.truncate(log, 0)
    write(log, "7")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower, drain=True) == ["6", "7"]
        rows = state.conn.execute("SELECT count(*) FROM watch_offsets").fetchone()[0]
        assert rows == 2, "older rotations are forgotten"


def test_replaced_file_with_reused_inode_is_read_from_start(tmp_path: Path, log: Path) -> None:
    """Another file at our offset with other first bytes (inode reused) is not taken for ours."""
    db = tmp_path / "state.db"
    write(log, "aaaa 1", "aaaa 2")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        seen(follower)
    with open(log, "r+b") as handle:  # same inode, other content, longer than before
        handle.write(b"bbbb 1\nbbbb 2\nbbbb 3\n")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower) == ["bbbb 1", "bbbb 2", "bbbb 3"]


def test_from_end_skips_existing_lines_once(tmp_path: Path, log: Path) -> None:
    """--from-end starts after the existing lines, and a restart does not skip again."""
    db = tmp_path / "state.db"
    write(log, "old", partial="half")
    with State(db) as state, LogFollower([str(log)], state=state, from_end=True) as follower:
        assert seen(follower) == []
        write(log, "-line")
    write(log, "next")
    with State(db) as state, LogFollower([str(log)], state=state, from_end=True) as follower:
        assert seen(follower) == ["half-line", "next"]


def test_rotated_twice_while_stopped(tmp_path: Path, log: Path) -> None:
    """Ours became access.log.2 and a file we never saw became access.log.1 (renamed, or copied
    and truncated): the rest of ours, then all of .1, then the live file."""
    db = tmp_path / "state.db"
    write(log, "1")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower) == ["1"]
    write(log, "2")
    os.rename(log, f"{log}.1")
    write(log, "3")
    os.rename(f"{log}.1", f"{log}.2")
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    write(log, "4")
    with gzip.open(f"{log}.3.gz", "wb") as handle:  # older and compressed: never read
        handle.write(b"0\n")
    with State(db) as state, LogFollower([str(log)], state=state) as follower:
        assert seen(follower, drain=True) == ["2", "3", "4"]


def test_several_paths_each_exactly_once(tmp_path: Path) -> None:
    """Two logs followed together keep their own cursors, counts and line numbers across a restart."""
    db, a, b = tmp_path / "state.db", tmp_path / "a.log", tmp_path / "b.log"
    write(a, "a1", "a2")
    with State(db) as state, LogFollower([str(a), str(b)], state=state) as follower:
        assert seen(follower) == ["a1", "a2"]
        write(b, "b1")
        assert seen(follower) == ["b1"]
    write(a, "a3")
    write(b, "b2")
    with State(db) as state, LogFollower([str(a), str(b)], state=state) as follower:
        chunks = list(follower.poll())
        assert [(c.path, c.first_line_no, c.data) for c in chunks] == [
            (str(a), 3, b"a3\n"),
            (str(b), 2, b"b2\n"),
        ]
        for chunk in chunks:
            follower.commit(chunk)
        assert {p: t.lines for p, t in follower.totals().items()} == {str(a): 3, str(b): 2}


def test_daily_once_runs_after_copytruncate(tmp_path: Path, log: Path) -> None:
    """cron: logrotate (copytruncate) then a --once run that finds the log empty; the next day's
    lines are only in the next copy (access.log.1, the previous one now .2): they are read."""
    db = tmp_path / "state.db"

    def run() -> list[str]:
        with State(db) as state, LogFollower([str(log)], state=state) as follower:
            return seen(follower, drain=True)

    def copytruncate() -> None:
        for n in (2, 1):
            if Path(f"{log}.{n}").exists():
                os.rename(f"{log}.{n}", f"{log}.{n + 1}")
        shutil.copyfile(log, f"{log}.1")
        os.truncate(log, 0)

    write(log, "day 1")
    assert run() == ["day 1"]
    copytruncate()
    assert run() == []
    write(log, "day 2 a", "day 2 b")
    copytruncate()
    assert run() == ["day 2 a", "day 2 b"]
    write(log, "day 3")
    copytruncate()
    write(log, "day 4")
    assert run() == ["day 3", "day 4"]
