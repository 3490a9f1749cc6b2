"""The command sets how polars' allocator returns freed memory before polars is imported (a big
scan's peak memory depends on it), and a user's own setting still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Runs the command's entry point, then asks polars (imported afterwards, as a verb does) what
# it configured its allocator with.
PROBE = (
    "import os\nfrom botguard.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
    "import polars\nprint(os.environ['_RJEM_MALLOC_CONF'])\n"
)


def allocator_conf(own: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if own is not None:
        env["_RJEM_MALLOC_CONF"] = own
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    return done.stdout.strip().splitlines()[-1].split(",")


def test_the_command_returns_freed_memory_within_0_15_s_to_few_arenas() -> None:
    """Sooner costs a big scan's CPU in page faults (0.1 s with an arena per thread: a fifth of
    it in the kernel); later lifts its peak (1 s: ~485 MiB at 5M lines, against ~445); an
    arena shared by threads reuses what any of them freed (half the faults)."""
    conf = allocator_conf(None)
    # jemalloc reads options left to right: the last setting of a name is the one in force.
    last = {name: value for name, _, value in (option.partition(":") for option in conf)}
    assert last["background_thread"] == "true"
    assert last["narenas"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert last["dirty_decay_ms"] == "150"
    assert last["muzzy_decay_ms"] == "0"


def test_an_arena_per_two_cores_one_at_least() -> None:
    """One arena on the 2-core machine it was measured on; more on a bigger one, where threads
    would wait for a single arena's lock."""
    from botguard.loading import allocator

    assert "narenas:1," in allocator(1) and "narenas:1," in allocator(2)
    assert "narenas:16," in allocator(32)


def test_a_users_own_allocator_setting_comes_last_and_wins() -> None:
    conf = allocator_conf("dirty_decay_ms:7")
    assert conf[-1] == "dirty_decay_ms:7"
    assert "background_thread:true" in conf


# Runs the command's entry point, then imports numpy (as the model step does) and prints the
# BLAS variable and how many threads the process runs (numpy alone: OpenBLAS's, beside this one).
BLAS_PROBE = (
    "import os\nfrom botguard.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
    "import numpy\nprint(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))\n"
)
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def blas_setting(own: dict[str, str]) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES} | own
    done = subprocess.run(
        [sys.executable, "-c", BLAS_PROBE], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    value, threads = done.stdout.strip().splitlines()[-1].split()
    return value, int(threads)


def test_numpy_starts_no_blas_threads_botguard_never_uses() -> None:
    """OpenBLAS starts a thread per core when numpy is imported; botguard multiplies no matrices,
    and those threads cost a small scan ~45 ms of CPU."""
    assert blas_setting({}) == ("1", 1)


def test_a_users_own_blas_threads_setting_wins() -> None:
    assert blas_setting({"OPENBLAS_NUM_THREADS": "2"})[0] == "2"
    assert blas_setting({"OMP_NUM_THREADS": "3"})[0] == "None"  # OpenBLAS reads the user's OMP setting
