"""The compiled reader's column buffers come from a pool, and empty lines are counted in it.

A set of buffers goes back to the pool when polars releases the last array that reads it, and
the next block is written into it. A set handed back while a frame still reads it would give
that frame another block's rows, silently (wrong verdicts, no error): the first tests hold the
frames of earlier blocks while later blocks are parsed into reused sets and compare every one
with the polars path. The others check that the pool is used at all, and that the empty lines
the kernel counts itself give the polars path's counts and examples.
"""

from __future__ import annotations

import gc
from types import ModuleType

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from botguard.logs import _malformed
from botguard.logs.formats import FORMATS
from botguard.logs.text import TemplateFormat
from tests.helpers import native_off

from .test_fastparse import both

BLOCKS = 12
LINES = 1_500


@pytest.fixture(scope="module")
def kernel() -> ModuleType:
    log_format = FORMATS["combined"]
    assert isinstance(log_format, TemplateFormat)
    with native_off(False):
        module = log_format.fast_reader()
    assert module is not None, "the kernel is not built (see test_fastparse.test_the_kernel_is_built)"
    return module


def block_of(number: int, lines: int = LINES) -> bytes:
    """A block every line of which the kernel takes, unlike every other block in each field:
    long targets, referers and agents (polars keeps strings over 12 bytes in the kernel's
    buffer, not in its views), and its own times, statuses, sizes and addresses."""
    rows = [
        f"10.{number}.{line // 250}.{line % 250} - - [0{1 + number % 9}/Mar/2024:1{line % 10}:{line % 60:02d}:"
        f"{number * 3 % 60:02d} +0000] "
        f'"GET /block-{number}/page-{line}/{"x" * (line % 40)} HTTP/1.1" {200 + (number + line) % 300} '
        f'{number * 100_000 + line} "https://ref.example/{number}/{line}" '
        f'"Agent/{number}.{line} (a long enough agent, block {number})"\n'
        for line in range(lines)
    ]
    return "".join(rows).encode()


def pure(block: bytes, first_line_no: int) -> pl.DataFrame:
    with native_off(True):
        frame, _ = FORMATS["combined"].parse_block(block, source="t.log", first_line_no=first_line_no)
    return frame


def test_frames_of_earlier_blocks_stay_whole_while_later_blocks_reuse_buffers(kernel: ModuleType) -> None:
    """Every other block's frame is kept, the others are dropped at once (their sets go back to
    the pool and the next block is written into them): each kept frame still equals the polars
    path's rows of its own block after all the blocks were parsed."""
    blocks = [block_of(number) for number in range(BLOCKS)]
    before = kernel.pool_stats()
    kept: list[tuple[int, pl.DataFrame]] = []
    with native_off(False):
        for number, block in enumerate(blocks):
            frame, stats = FORMATS["combined"].parse_block(
                block, source="t.log", first_line_no=number * LINES + 1
            )
            assert stats.parsed == LINES
            if number % 2 == 0:
                kept.append((number, frame))
            del frame
            gc.collect()
    after = kernel.pool_stats()
    assert after["reused"] - before["reused"] >= BLOCKS // 2 - 1, (before, after)
    for number, frame in kept:
        assert_frame_equal(frame, pure(blocks[number], number * LINES + 1))


def test_the_kernels_own_columns_stay_whole_while_their_set_is_not_released(kernel: ModuleType) -> None:
    """The same at the kernel's door: frames made from its columns (no copy), kept or dropped
    in turn, and columns never imported, dropped: none of them hands a set back early."""
    blocks = [block_of(number, 400) for number in range(BLOCKS)]
    expected = []
    for number, block in enumerate(blocks):
        columns, _, _ = kernel.parse(block, number * 400 + 1, kernel.COMBINED)
        expected.append(pl.DataFrame(columns).clone())
    kept = []
    for round_ in range(3):
        for number, block in enumerate(blocks):
            columns, rest, numbers = kernel.parse(block, number * 400 + 1, kernel.COMBINED)
            assert not rest and not numbers
            if (number + round_) % 3 == 0:
                kept.append((number, pl.DataFrame(columns)))
            elif (number + round_) % 3 == 1:
                kept.append((number, columns))  # imported later, after other blocks
            del columns
    for number, held in kept:
        frame = held if isinstance(held, pl.DataFrame) else pl.DataFrame(held)
        assert_frame_equal(frame, expected[number])


def test_steady_parsing_reuses_the_same_sets(kernel: ModuleType) -> None:
    """Blocks parsed one after the other, each frame dropped before the next: after the first,
    every block is written into a set from the pool (none made, none freed)."""
    block = block_of(1)
    kernel.pool_stats()
    frame = pl.DataFrame(kernel.parse(block, 1, kernel.COMBINED)[0])
    del frame
    before = kernel.pool_stats()
    for _ in range(30):
        frame = pl.DataFrame(kernel.parse(block, 1, kernel.COMBINED)[0])
        assert frame.height == LINES
        del frame
    after = kernel.pool_stats()
    assert after["reused"] - before["reused"] == 30
    assert (after["made"], after["freed"], after["grown"]) == (
        before["made"],
        before["freed"],
        before["grown"],
    )
    assert after["out"] == before["out"]


def test_the_pool_keeps_few_sets(kernel: ModuleType) -> None:
    """Many blocks held at once, then all dropped: the pool keeps at most POOL_IDLE_MAX idle sets
    (the others are freed), so a burst does not pin memory for the rest of the run."""
    held = [kernel.parse(block_of(2, 200), 1, kernel.COMBINED)[0] for _ in range(8)]
    assert kernel.pool_stats()["out"] >= 8
    del held
    assert kernel.pool_stats()["idle"] <= kernel.POOL_IDLE_MAX


def test_the_kernel_keeps_as_many_blank_examples_as_a_batch_shows(kernel: ModuleType) -> None:
    assert kernel.BLANK_EXAMPLES >= _malformed.EXAMPLES_PER_BATCH


PIECES = {
    "b": b"\n",
    "v": block_of(3, 1),
    "j": b"junk line\n",
    "s": b" \n",
    "w": b"   \n",
    "t": b"\t\n",
    "r": b"\r\n",
    "c": b"cut",
}


@pytest.mark.parametrize(
    "layout",
    [
        "bbvvjb",  # blank first
        "vjbb",  # blank last
        "bbb",  # only blanks
        "b" * 30 + "jvj",  # more blanks than examples, before the junk
        "jv" + "bv" * 30 + "j",  # junk before many blanks
        "bswtrv",  # whitespace lines are the polars path's
        "vbc",  # a cut line after a blank
    ],
)
def test_blank_lines_counted_by_the_kernel_as_the_polars_path_counts_them(
    kernel: ModuleType, layout: str
) -> None:
    """Empty lines anywhere in a block, among taken and handed-back lines: the same rows, counts
    and examples (the first 20 malformed lines in line order, blank or not) as the polars path."""
    data = b"".join(PIECES[piece] for piece in layout)
    blanks = [n for n, line in enumerate(data.split(b"\n")[:-1], start=5) if line == b""]
    for first_line_no in (1, 1_000):
        _, stats = both(data, first_line_no=first_line_no)
        assert stats.malformed_by_reason["empty"] >= len(blanks)
    columns, _, _ = kernel.parse(data, 5, kernel.COMBINED)
    assert columns.blank_lines == len(blanks)
    assert columns.first_blank_lines == tuple(blanks[: kernel.BLANK_EXAMPLES])
