"""Test helpers: run the CLI in-process and capture its output and exit code; find test data."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from botguard import native
from botguard.cli import main

#: Test data copied into the repository: MIT, Apache-2.0 and CC0 files (tests/data/SOURCES.md).
TEST_DATA = Path(__file__).parent / "data"
#: The project's reference data beside the repository, or where BOTGUARD_SHARED_DATA says. Only
#: GPL/LGPL files are read from there: their licences forbid copying them into this repository.
SHARED_DATA = Path(
    os.environ.get("BOTGUARD_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


def generated_day(log: Path, robots: Path, *, lines: int, seed: int) -> None:
    """Write a one-day log of ``lines`` lines from the project's generator (bench/gen_logs.py,
    ``seed``) and the robots.txt it was generated against."""
    bench = str(Path(__file__).resolve().parents[1] / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import gen_logs

    argv = ["--lines", str(lines), "--seed", str(seed), "--days", "1", "--out", str(log),
            "--robots-out", str(robots)]  # fmt: skip
    assert gen_logs.main(argv) == 0


def gpl_data(*parts: str) -> Path:
    """A GPL/LGPL file (or directory) of the shared reference data; the test is skipped, saying
    why, where that data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(gpl_absent(*parts))
    return path


def gpl_absent(*parts: str) -> str:
    """Why a test of GPL/LGPL reference data does not run here (a skip reason)."""
    return (
        f"{'/'.join(parts)} is GPL/LGPL data, which its licence forbids bundling here, and "
        f"{SHARED_DATA.joinpath(*parts)} is absent (BOTGUARD_SHARED_DATA names a copy of the shared data)"
    )


@dataclass(frozen=True)
class Result:
    """What one CLI run produced."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams, for assertion messages."""
        return f"exit={self.exit_code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run_cli(*args: str, stdin: str | bytes | None = None) -> Result:
    """Run ``botguard ARGS`` in-process, as a user would from a shell."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        raw = stdin.encode() if isinstance(stdin, str) else stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_stdin
    return Result(int(code), out.getvalue(), err.getvalue())


def scan_site(site: Mapping[str, Path], *extra: str) -> dict[str, Any]:
    """``botguard scan --format json`` of a test site (log, robots, config, state): the document."""
    r = run_cli(
        "scan", str(site["log"]), "--robots", str(site["robots"]), "--config", str(site["config"]),
        "--state", str(site["state"]), "--format", "json", *extra,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A real HTTP server on 127.0.0.1 (free port) in a thread, stopped on exit."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def native_off(off: bool = True) -> Iterator[None]:
    """Run the block with the C kernels turned off (``off``: their pure twins run) or on, whatever
    the environment says: each kernel's tests compare the two."""
    before = os.environ.get(native.DISABLE_VARIABLE)
    os.environ[native.DISABLE_VARIABLE] = "1" if off else ""
    try:
        yield
    finally:
        if before is None:
            del os.environ[native.DISABLE_VARIABLE]
        else:
            os.environ[native.DISABLE_VARIABLE] = before
