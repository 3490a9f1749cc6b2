"""Targets chosen by a client must not make the compiled numbering slow (a hostile reviewer's test).

botguard/judge/_fold.c numbers strings in open-addressing tables probed linearly, hashed with
fixed seeds. Whoever knows the code can choose request paths whose hashes share their low bits
(here 4,096 of them, found by brute force in well under a second of C): they land in one
cluster, and every lookup walks it. On main, group_ids over such a batch costs ~50-70x the CPU
of as many ordinary paths (16,384 paths sharing 16 bits: ~150x); the pair book bg/anum keeps
for a whole scan pays it on every row of every batch (10 batches of 32k rows: 4.1 s against
0.026). A seed drawn per process would scatter them (numbers are given in first-seen order, so
no result depends on the seed).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from botguard.native import kernel

FOLD = kernel("judge._fold")
CC = shutil.which("cc") or shutil.which("gcc")

#: _fold.c's hash_bytes, and a search for paths whose hash under `seed` has its low `bits` bits zero.
BRUTE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}
static inline uint64_t read64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint64_t hash_bytes(const uint8_t *data, size_t size, uint64_t seed) {
    const uint64_t k0 = 0xA0761D6478BD642FULL, k1 = 0xE7037ED1A0B428DBULL, k2 = 0x8EBC6AF09C88C6E3ULL;
    uint64_t h = seed ^ mum(size ^ k0, k1);
    while (size > 16) { h = mum(read64(data) ^ k1, read64(data + 8) ^ h); data += 16; size -= 16; }
    uint64_t a = 0, b = 0;
    if (size >= 8) { a = read64(data); b = read64(data + size - 8); } else if (size > 0) { memcpy(&a, data, size); }
    h = mum(a ^ k2 ^ h, b ^ k0);
    h = mum(h ^ k1, size ^ k2) ^ h;
    return h ? h : 1;
}
int main(int argc, char **argv) {
    uint64_t seed = strtoull(argv[1], NULL, 16), mask = (1ULL << atoi(argv[2])) - 1;
    long want = atol(argv[3]), found = 0;
    char buf[32] = "/p/";
    for (uint64_t i = 0; found < want; i++) {
        int n = 3;
        for (uint64_t v = i; ; v >>= 4) { buf[n++] = "0123456789abcdef"[v & 15]; if (v < 16) break; }
        if ((hash_bytes((const uint8_t *)buf, (size_t)n, seed) & mask) == 0) {
            fwrite(buf, 1, (size_t)n, stdout); fputc('\n', stdout); found++;
        }
    }
    return 0;
}
"""

#: group_ids' seed for strings numbered without a second key (_fold.c).
SEED = "2545F4914F6CDD1D"
TARGETS = 4096
BITS = 13  # 4,096 strings fill a table of 8,192 slots


def _colliding(tmp_path: Path) -> list[str]:
    source, program = tmp_path / "brute.c", tmp_path / "brute"
    source.write_text(BRUTE, encoding="utf-8")
    subprocess.run([str(CC), "-O2", "-o", str(program), str(source)], check=True, capture_output=True)
    done = subprocess.run(
        [str(program), SEED, str(BITS), str(TARGETS)], check=True, capture_output=True, text=True
    )
    return done.stdout.split()


def _cpu_of_numbering(targets: list[str]) -> float:
    """CPU seconds of group_ids over 16 rows of each target, best of 3."""
    assert FOLD is not None
    column = pl.Series("target", targets * 16)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        FOLD.group_ids(column.__arrow_c_stream__())
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.skipif(FOLD is None or CC is None, reason="needs the judge._fold kernel and a C compiler")
@pytest.mark.xfail(
    strict=True, reason="main: _fold.c hashes with fixed seeds; chosen paths share one probe cluster"
)
def test_paths_chosen_to_collide_cost_what_ordinary_paths_cost(tmp_path: Path) -> None:
    chosen = _colliding(tmp_path)
    ordinary = [f"/q/{i:x}" for i in range(TARGETS)]
    assert len(set(chosen)) == TARGETS
    cost, usual = _cpu_of_numbering(chosen), _cpu_of_numbering(ordinary)
    assert cost < 10 * max(usual, 0.002), f"{cost:.3f} s against {usual:.3f} s"
