#!/usr/bin/env python3
"""Where a scan's memory goes: run a botguard command in this process and sample its RSS.

    .venv/bin/python bench/scan_rss.py scan LOG --robots robots.txt --format json \\
        --output /tmp/out.json --state /tmp/state.db

Why: tracemalloc does not see polars' or numpy's memory, so a thread reads /proc/self/statm
every 20 ms together with the main thread's botguard stack, and the script prints the peak and
the highest RSS seen in each stage (the three botguard frames below the verb), in the order the
stages ran, with the frames below them at that moment. With ``--sizes`` it also prints the
merged partial's frames (rows, ``estimated_size``) and the judged clients frame: what a scan
keeps per client. Linux only (``/proc``). The arguments are the CLI's.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
FRAMES = ("clients", "rule_counts", "evidence", "time_counts", "path_counts")


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE


def stack(thread: int) -> list[str]:
    """botguard's frames of ``thread``, outermost first (the CLI's left out)."""
    frame, names = sys._current_frames().get(thread), []
    while frame is not None:
        code = frame.f_code
        if "botguard" in code.co_filename and "/cli/" not in code.co_filename:
            names.append(f"{os.path.basename(code.co_filename)[:-3]}.{code.co_name}")
        frame = frame.f_back
    return names[::-1]


def print_sizes() -> None:
    """Print the merged partial's and the judged clients' sizes as the scan judges them."""
    from botguard.app import scan

    judge: Callable[..., Any] = scan._FilePartials.judge

    def sized(self: Any, handed: Any, identify: Any) -> Any:
        from botguard.judge import Handed

        partial, total = handed.take(), 0
        for name in FRAMES:
            size = getattr(partial, name).estimated_size()
            total += size
            print(f"partial {name}: {getattr(partial, name).height:,} rows, {size / 2**20:.1f} MiB")
        clients = max(1, partial.clients.height)
        print(
            f"partial: {total / 2**20:.1f} MiB, {partial.clients.height:,} clients, {total / clients:.0f} B/client"
        )
        handed = Handed(partial)
        del partial  # handed on whole: the judge lets it go once spilled
        result = judge(self, handed, identify)
        size = result.clients.estimated_size()
        print(f"judged clients frame: {size / 2**20:.1f} MiB, {size / clients:.0f} B/client")
        return result

    scan._FilePartials.judge = sized  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if "--sizes" in argv:
        argv = [a for a in argv if a != "--sizes"]
        print_sizes()
    from botguard.cli import main as cli

    samples: list[tuple[float, int, list[str]]] = []
    done, main_thread = threading.Event(), threading.get_ident()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), rss(), stack(main_thread)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    try:
        code = cli(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    done.set()
    sampler.join()
    peak = max(samples, key=lambda s: s[1])
    print(
        f"exit {code}, {time.perf_counter() - start:.1f} s, peak {peak[1] / 2**20:.0f} MiB in {' > '.join(peak[2])}"
    )
    highest: dict[str, tuple[int, float, list[str]]] = {}
    for at, size, names in samples:
        stage = " > ".join(names[1:4]) or "(start-up)"
        if size > highest.get(stage, (0, 0.0, []))[0]:
            highest[stage] = (size, at - start, names[4:8])
    for stage, (size, at, below) in highest.items():
        print(f"{size / 2**20:7.0f} MiB  t={at:6.1f} s  {stage}  [{' > '.join(below)}]")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
