"""The compiled log parser (botguard.logs._fastparse) attacked with hostile bytes.

A hostile reviewer's tests: the kernel reads bytes a stranger wrote, with the GIL released, in C.
Each test compares it with the polars path (``BOTGUARD_NO_NATIVE=1``: the oracle) on lines built
to find a difference, or watches it for a read outside its buffer (guard pages), a leak (RSS
over many calls), or a race (two threads at once). They are skipped where the kernel is not
built; the kernel's own tests fail the suite there.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botguard import native
from botguard.logs.formats import FORMATS
from botguard.logs.records import ParseStats

from . import hostile_corpus as corpus
from .conftest import ELASTIC, log_bytes

FORMAT_NAMES = ("combined", "common", "vhost_combined")
Parsed = tuple[pl.DataFrame, ParseStats]


@pytest.fixture(scope="module")
def kernel() -> ModuleType:
    """The compiled parser, or a skip where it is not built (its own tests fail the suite then)."""
    module = native.kernel("logs._fastparse")
    if module is None:
        pytest.skip("botguard.logs._fastparse is not built here (or BOTGUARD_NO_NATIVE is set)")
    return module


def parsed(name: str, block: bytes, *, first: int = 1, pure: bool) -> Parsed:
    """``parse_block`` of format ``name`` with the kernel, or with the polars path alone."""
    saved = os.environ.get(native.DISABLE_VARIABLE)
    os.environ[native.DISABLE_VARIABLE] = "1" if pure else "0"
    try:
        return FORMATS[name].parse_block(block, source="s.log", first_line_no=first)
    finally:
        if saved is None:
            del os.environ[native.DISABLE_VARIABLE]
        else:
            os.environ[native.DISABLE_VARIABLE] = saved


def assert_same(name: str, block: bytes, *, first: int = 1) -> Parsed:
    """The kernel's rows and counts equal the polars path's for ``block``; the kernel's returned."""
    fast = parsed(name, block, first=first, pure=False)
    slow = parsed(name, block, first=first, pure=True)
    assert fast[0].schema == slow[0].schema, (name, block[:300])
    assert fast[0].equals(slow[0]), (name, block[:300], _first_difference(fast[0], slow[0]))
    assert fast[1] == slow[1], (name, block[:300])
    return fast


def _first_difference(a: pl.DataFrame, b: pl.DataFrame) -> object:
    if a.height != b.height:
        return ("rows", a.height, b.height, a["line_no"].to_list()[:20], b["line_no"].to_list()[:20])
    for index in range(a.height):
        if a.row(index) != b.row(index):
            return a.row(index, named=True), b.row(index, named=True)
    return None


def prefixed(name: str, lines: Iterator[bytes]) -> list[bytes]:
    """``lines`` as format ``name`` logs them (vhost_combined: a host first)."""
    host = b"www.Example.com:443 " if name == "vhost_combined" else b""
    return [host + line for line in lines]


def field_lines() -> list[bytes]:
    return [line.encode("utf-8", "surrogatepass") for line in corpus.field_lines()]


def real_lines() -> list[bytes]:
    """Lines of the bundled Apache log and of the example: what real servers write."""
    from tests.helpers import TEST_DATA

    lines = log_bytes(ELASTIC).split(b"\n")[:2000]
    example = TEST_DATA.parent.parent / "examples" / "access.log"
    return [line for line in lines + example.read_bytes().split(b"\n")[:2000] if line]


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_each_hostile_field_alone_and_together(kernel: ModuleType, name: str) -> None:
    """Every near-valid field (31 Feb, +2400, 256.1.1.1, status 99999, bytes 2**63, quotes,
    backslashes, NUL, CR) in an otherwise valid line: line by line and as one block."""
    lines = prefixed(name, iter(field_lines()))
    for start in range(0, len(lines), 25):
        assert_same(name, corpus.block_of(lines[start : start + 25]))
    taken = assert_same(name, corpus.block_of(lines))[0].height
    assert taken > 0  # the valid lines are the kernel's: the comparison is not pure vs pure


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_byte_value_in_every_field(kernel: ModuleType, name: str) -> None:
    """Each byte 0..255 (but the newline) put at each field boundary of a valid line."""
    lines = prefixed(name, corpus.every_byte_lines())
    for start in range(0, len(lines), 500):
        assert_same(name, corpus.block_of(lines[start : start + 500]))


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_mutated_real_lines(kernel: ModuleType, name: str) -> None:
    """Real lines with 1-4 byte edits each (a fixed seed: the same blocks every run)."""
    rng = random.Random(20261207)
    real = prefixed(name, iter(real_lines()))
    for _ in range(50):
        lines = [corpus.mutate(rng.choice(real), rng) if rng.random() < 0.7 else rng.choice(real)
                 for _ in range(rng.randint(1, 40))]  # fmt: skip
        assert_same(
            name, corpus.block_of(lines, final_newline=rng.random() < 0.9), first=rng.randint(1, 10**9)
        )


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_a_block_cut_at_every_offset(kernel: ModuleType, name: str) -> None:
    """Lines cut short anywhere (no final newline, a half field) are read as the polars path
    reads them; an empty block is no rows and no lines."""
    lines = prefixed(name, iter([corpus.VALID.encode(), real_lines()[0]]))
    block = corpus.block_of(lines)
    first = len(lines[0]) + 1
    for at in [*range(first + 1), *range(first + 1, len(block) + 1, 5)]:
        assert_same(name, block[:at])


HOSTILE_TEXT = st.text(alphabet=st.sampled_from(list('aZ09 -"\\[]:/+.\r\x00\x1f\x7f\té\ufffd')), max_size=30)


@pytest.mark.parametrize("name", FORMAT_NAMES)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(corpus.IP) | HOSTILE_TEXT,
            st.sampled_from(corpus.TIME) | HOSTILE_TEXT,
            st.sampled_from(corpus.REQUEST) | HOSTILE_TEXT,
            st.sampled_from(corpus.STATUS) | HOSTILE_TEXT,
            st.sampled_from(corpus.BYTES) | HOSTILE_TEXT,
            st.sampled_from(corpus.QUOTED[:-9]) | HOSTILE_TEXT,
            st.sampled_from(corpus.QUOTED[:-9]) | HOSTILE_TEXT,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_generated_lines_of_hostile_fields(
    kernel: ModuleType, name: str, fields: list[tuple[str, ...]]
) -> None:
    """Lines whose fields are drawn from the hostile pools or random text, mixed with valid
    lines so both paths run in one block."""
    lines = [corpus.combined(*f).encode("utf-8", "surrogatepass") for f in fields]
    lines = prefixed(name, iter([corpus.VALID.encode(), *lines, corpus.VALID.encode()]))
    assert_same(name, corpus.block_of(lines))


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_ipv6_in_every_spelling(kernel: ModuleType, name: str) -> None:
    """Addresses the kernel may take only when they are already in their one spelling (that of
    :func:`botguard.addresses.canonical_address`), every other spelling is the polars path's."""
    rng = random.Random(6)
    addresses = list(corpus.ipv6_spellings(rng, 1500))
    lines = [corpus.VALID.replace("1.2.3.4", address, 1).encode() for address in addresses]
    lines = prefixed(name, iter(lines))
    for start in range(0, len(lines), 300):
        assert_same(name, corpus.block_of(lines[start : start + 300]))


GUARDED = textwrap.dedent(
    """
    import ctypes, mmap, sys
    sys.path.insert(0, {tests!r})
    from botguard.logs import _fastparse as k
    from tests.logs import hostile_corpus as corpus
    PAGE = mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    def guarded(block):
        # the block between two pages nobody may read: once ending at the second, once
        # starting right after the first
        pages = (len(block) + PAGE - 1) // PAGE + 2
        area = mmap.mmap(-1, (pages + 1) * PAGE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(area))
        for page in (0, pages):
            assert libc.mprotect(ctypes.c_void_p(base + page * PAGE), PAGE, 0) == 0
        views = []
        end = pages * PAGE
        area[end - len(block):end] = block
        views.append(memoryview(area)[end - len(block):end])
        area[PAGE:PAGE + len(block)] = block
        views.append(memoryview(area)[PAGE:PAGE + len(block)])
        return views
    lines = [l.encode("utf-8", "surrogatepass") for l in corpus.field_lines()]
    lines += list(corpus.every_byte_lines())[::7]
    blocks = [b"", b"\\n", b"x", b'"', b"[", b"1.2.3.4 - - [", corpus.VALID.encode()]
    cut = [corpus.VALID.encode()[:n] for n in range(len(corpus.VALID))]
    blocks += cut + [line + b"\\n" for line in cut] + [b"h " + line + b"\\n" for line in cut]
    blocks += [line + b"\\n" for line in lines] + [line for line in lines]
    blocks += [b"h " + line for line in lines[:200]]
    count = 0
    for block in blocks:
        for layout in (k.COMMON, k.COMBINED, k.VHOST_COMBINED):
            for view in guarded(block):
                columns, rest, numbers = k.parse(view, 1, layout)
                count += 1
    print(count)
    """
)


def test_no_read_outside_the_block(kernel: ModuleType, tmp_path: object) -> None:
    """Each hostile block placed flush against an unreadable page (before it and after it):
    a read of one byte outside the buffer kills the child with SIGSEGV. (Bytes objects end with
    a hidden NUL, which hides a one-byte over-read; a memoryview of a mapping hides nothing.)"""
    tests_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = GUARDED.format(tests=tests_root)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert int(done.stdout) > 1000


def test_two_threads_parse_at_once_as_one_does(kernel: ModuleType) -> None:
    """The GIL is released while a block is read: two threads reading different blocks (and
    the same block) at once get what each gets alone."""
    real = real_lines()
    blocks = [corpus.block_of(real[i::3]) for i in range(3)]
    alone = [pl.DataFrame(kernel.parse(b, 1, kernel.COMBINED)[0]) for b in blocks]
    results: dict[tuple[int, int], pl.DataFrame] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for round_ in range(20):
                which = (worker + round_) % 3 if worker else 0
                results[(worker, round_)] = pl.DataFrame(kernel.parse(blocks[which], 1, kernel.COMBINED)[0])
                assert results[(worker, round_)].equals(alone[which])
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == 60


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_columns_are_freed_whether_exported_or_not(kernel: ModuleType) -> None:
    """10,000 parses of a 100-line block, each result imported by polars, dropped unread, or
    exported to capsules that are never imported: RSS does not grow with the calls (a lost
    block's columns per call would be ~30 KB: 300 MB over the loop)."""
    block = corpus.block_of(real_lines()[:100])

    def one_round(mode: int) -> None:
        columns, _, _ = kernel.parse(block, 1, kernel.COMBINED)
        if mode == 0:
            frame = pl.DataFrame(columns)
            assert frame.height > 0
        elif mode == 1:
            schema, array = columns.__arrow_c_array__()
            del schema, array
        # mode 2: dropped unread

    for i in range(600):  # warm: polars' and the allocator's pools
        one_round(i % 3)
    before = _rss_kib()
    for i in range(10_000):
        one_round(i % 3)
    grown = _rss_kib() - before
    assert grown < 20_000, f"RSS grew {grown} KiB over 10,000 parses"


def test_columns_are_exported_once(kernel: ModuleType) -> None:
    """A second export of the same columns is an error, not the same buffers owned twice."""
    columns, _, _ = kernel.parse(corpus.VALID.encode() + b"\n", 1, kernel.COMBINED)
    columns.__arrow_c_array__()
    with pytest.raises(ValueError):
        columns.__arrow_c_array__()


FAIL_ONE_SIZE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
static void *(*real_malloc)(size_t);
static size_t refused;
static int ready;
/* malloc that refuses every request of $FAIL_SIZE bytes: one allocation of the kernel's fails */
void *malloc(size_t n) {
    if (!real_malloc) real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    if (!ready) {
        const char *text = getenv("FAIL_SIZE");
        refused = text ? strtoull(text, 0, 10) : (size_t)-1;
        ready = 1;
    }
    return n == refused ? NULL : real_malloc(n);
}
"""

OUT_OF_MEMORY = textwrap.dedent(
    """
    from botguard.logs import _fastparse as k
    block = bytearray()  # grown piece by piece: no allocation of the refused size
    for _ in range(100):
        block += b"x" * 20000 + b"\\n"  # longer than the kernel takes: all handed back
    try:
        k.parse(block, 1, k.COMBINED)
    except MemoryError:
        print("MemoryError")
    """
)


def test_out_of_memory_for_the_handed_back_lines_is_a_memory_error(
    kernel: ModuleType, tmp_path: Path
) -> None:
    """The bytes object of the handed-back lines cannot be allocated (malloc refuses exactly its
    size, CPython's allocator set to malloc): MemoryError, not a crash."""
    import shutil
    import sysconfig

    compiler = shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the malloc shim")
    shim = tmp_path / "fail_one_size.so"
    source = tmp_path / "fail_one_size.c"
    source.write_text(FAIL_ONE_SIZE)
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", str(source), "-o", str(shim), "-ldl"], check=True)
    rest_bytes = 100 * 20001
    env = dict(os.environ, PYTHONMALLOC="malloc", LD_PRELOAD=str(shim))
    env["FAIL_SIZE"] = str(rest_bytes + sys.getsizeof(b""))  # PyBytes header + data + NUL
    done = subprocess.run(
        [sys.executable, "-c", OUT_OF_MEMORY],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "MemoryError"), (
        done.returncode,
        done.stderr[-1500:],
    )
