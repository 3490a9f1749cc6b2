"""A damaged compressed log (cut short or corrupt) costs only its own unreadable rest.

The scan reads everything before the damage and every other file, prints and stores its
results, names the file and the line it stopped at on stderr, and exits 0 (README: a cron run
must not fail, and stop the deploy after it, for as long as an old damaged archive lies there).
The lines a reader can recover are counted independently with the stdlib's streaming
decompressors, which return what they can decode from a cut stream without raising.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from botguard.judge.store import latest_scan
from botguard.state import State
from tests.helpers import run_cli

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

# name -> (compress, what a streaming decompressor recovers from a cut copy)
CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "gz": (gzip.compress, lambda cut: zlib.decompressobj(wbits=31).decompress(cut)),
    "bz2": (bz2.compress, lambda cut: bz2.BZ2Decompressor().decompress(cut)),
    "xz": (lzma.compress, lambda cut: lzma.LZMADecompressor().decompress(cut)),
}


def log_lines(first_ip: int, count: int) -> bytes:
    """``count`` combined lines, one client per line, with varied paths (so they compress like logs)."""
    return "".join(
        f"10.{(first_ip + i) // 65536 % 256}.{(first_ip + i) // 256 % 256}.{(first_ip + i) % 256} - - "
        f'[04/Mar/2024:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET /p/{i * 7919 % 100003}?q={i} HTTP/1.1" '
        f'200 {i % 5000} "-" "{CHROME}"\n'
        for i in range(count)
    ).encode()


def scan(*paths: Path, state: Path | None = None) -> tuple[int, dict, str]:
    args = ["scan", *map(str, paths), "--no-dns", "--no-model", "--format", "json"]
    args += ["--state", str(state)] if state else ["--no-save"]
    r = run_cli(*args)
    return r.exit_code, json.loads(r.stdout) if r.stdout else {}, r.stderr


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_cut_archive_between_good_files_is_read_up_to_the_cut(tmp_path: Path, codec: str) -> None:
    compress, recover = CODECS[codec]
    older = tmp_path / "access.log.3.gz"
    older.write_bytes(gzip.compress(log_lines(0, 2000)))
    whole = compress(log_lines(100_000, 60_000))  # several MiB: more than one read and one bz2 block
    damaged = tmp_path / f"access.log.2.{codec}"
    damaged.write_bytes(whole[: len(whole) * 6 // 10])
    newer = tmp_path / "access.log.1"
    newer.write_bytes(log_lines(300_000, 1500))
    readable = recover(damaged.read_bytes()).count(b"\n")
    assert 0 < readable < 60_000

    state = tmp_path / "state.db"
    code, doc, err = scan(newer, damaged, older, state=state)

    assert code == 0, err
    assert doc["summary"]["lines"] == doc["summary"]["parsed"] == 2000 + readable + 1500
    assert doc["summary"]["malformed"] == 0  # the cut line is lost with the rest, not counted as junk
    assert doc["summary"]["clients"] == 2000 + readable + 1500
    assert err.count("\n") == 1, err
    assert err.startswith(f"botguard: warning: {damaged}:{readable + 1}: "), err
    assert "truncated or corrupt" in err and "the rest of this file could not be read" in err
    with State(state) as db:
        stored = latest_scan(db)
    assert stored is not None and stored.summary.lines == 2000 + readable + 1500


def test_archive_damaged_before_its_first_line_is_named_and_skipped(tmp_path: Path) -> None:
    good = tmp_path / "access.log"
    good.write_bytes(log_lines(0, 300))
    broken = tmp_path / "access.log.1.gz"
    broken.write_bytes(gzip.compress(log_lines(5000, 300))[:15])  # the gzip header and nothing else
    code, doc, err = scan(good, broken)
    assert code == 0, err
    assert doc["summary"]["lines"] == 300
    assert err.startswith(f"botguard: warning: {broken}:1: "), err


def test_corrupt_bytes_in_the_middle_of_a_gzip(tmp_path: Path) -> None:
    """Garbage inside the deflate stream (not just a short file) is damage too: zlib may decode
    some of it before a check fails, so the lines read lie between the lines before the garbage
    and what zlib itself decodes byte by byte."""
    whole = bytearray(gzip.compress(log_lines(0, 40_000)))
    middle = len(whole) // 2
    whole[middle : middle + 64] = b"\xff" * 64
    damaged = tmp_path / "access.log.1.gz"
    damaged.write_bytes(bytes(whole))
    before = zlib.decompressobj(wbits=31).decompress(bytes(whole[:middle])).count(b"\n")
    decoder, after = zlib.decompressobj(wbits=31), 0
    try:  # byte by byte: everything zlib decodes before it notices the garbage
        for at in range(len(whole)):
            after += decoder.decompress(whole[at : at + 1]).count(b"\n")
    except zlib.error:
        pass
    code, doc, err = scan(damaged)
    assert code == 0, err
    assert 0 < before <= doc["summary"]["lines"] <= after  # junk decoded before the check fails is read too
    assert err.startswith(f"botguard: warning: {damaged}:{doc['summary']['lines'] + 1}: "), err
