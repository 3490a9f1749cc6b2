"""Random interleavings of appends, polls, both kinds of rotation and restarts: every line once, in order."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botguard.logs.follow import LogFollower
from botguard.state import State

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 30), st.booleans()),  # lines, leave a partial tail
        st.tuples(st.just("poll"), st.booleans(), st.just(False)),  # commit the chunks or "crash" before
        st.tuples(st.just("rename"), st.just(0), st.just(False)),
        st.tuples(st.just("copytruncate"), st.just(0), st.just(False)),
        st.tuples(st.just("restart"), st.just(0), st.just(False)),
    ),
    min_size=1,
    max_size=40,
)


def _shift(log: Path) -> None:
    """logrotate's numbering: access.log.N -> access.log.N+1, newest first."""
    numbers = sorted((int(p.name.rsplit(".", 1)[1]) for p in log.parent.glob(f"{log.name}.*")), reverse=True)
    for n in numbers:
        os.rename(f"{log}.{n}", f"{log}.{n + 1}")


class Run:
    """A writer, a follower over a state DB, and what it handed out and committed."""

    def __init__(self, directory: Path) -> None:
        self.log, self.db = directory / "access.log", directory / "state.db"
        self.written: list[str] = []
        self.partial = ""
        self.seen: list[str] = []
        self.seen_empty = True
        self.state = State(self.db)
        self.follower = LogFollower([str(self.log)], state=self.state, chunk_bytes=64)

    def append(self, count: int, leave_partial: bool) -> None:
        start = len(self.written) + (1 if self.partial else 0)
        text = "-end\n" if self.partial else ""  # completes the partial line already in the file
        if self.partial:
            self.written.append(f"{self.partial}-end")
        lines = [f"line {n:05d}" for n in range(start, start + count)]
        self.written += lines
        self.partial = f"line {start + count:05d}" if leave_partial else ""
        with open(self.log, "a") as handle:
            handle.write(text + "".join(f"{line}\n" for line in lines) + self.partial)

    def poll(self, commit: bool) -> None:
        for chunk in self.follower.poll():
            if not commit:  # killed while processing it: nothing committed, the next run reads it again
                self.restart()
                self.seen_empty = True  # what it saw of the live file since the last save is gone
                return
            self.seen += chunk.data.decode().splitlines()
            self.follower.commit(chunk)
        self.follower.save()
        # What the follower last saw of the live file: an empty file has no first bytes to be
        # recognised by (see rotate).
        self.seen_empty = not self.log.exists() or self.log.stat().st_size == 0

    def rotate(self, kind: str) -> None:
        if self.partial:  # nginx writes whole lines: no partial line across a rotation
            self.append(0, False)
        if kind == "copytruncate" and self.seen_empty:
            # Known limit: a file last seen empty, then filled and copied+truncated before the
            # next poll, cannot be told from one nobody wrote to (no first bytes to match a copy).
            self.poll(commit=True)
        _shift(self.log)
        if kind == "rename":
            if self.log.exists():
                os.rename(self.log, f"{self.log}.1")
        elif self.log.exists():
            shutil.copyfile(self.log, f"{self.log}.1")
            os.truncate(self.log, 0)

    def restart(self) -> None:
        self.follower.close()
        self.state.close()
        self.state = State(self.db)
        self.follower = LogFollower([str(self.log)], state=self.state, chunk_bytes=64)
        self.seen_empty = self.seen_empty or not self.log.exists() or self.log.stat().st_size == 0

    def finish(self) -> None:
        if self.partial:
            self.append(0, False)
        self.restart()
        self.poll(commit=True)
        self.follower.close()
        self.state.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_every_line_exactly_once_in_order(ops: list[tuple[str, int, bool]]) -> None:
    """Whatever the order of appends, polls (committed or crashed), rotations and restarts, the
    committed lines are exactly the written ones, in order."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(Path(tmp))
        run.append(1, False)
        run.poll(commit=True)  # a first start reads only the live file: start before any rotation
        for op, count, flag in ops:
            if op == "append":
                run.append(count, flag)
            elif op == "poll":
                run.poll(commit=flag)
            elif op == "restart":
                run.restart()
            else:
                run.rotate(op)
        run.finish()
        assert run.seen == run.written
