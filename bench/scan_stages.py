#!/usr/bin/env python3
"""`botguard scan` with the CPU time of each stage of app/scan.py printed to stderr.

    python bench/scan_stages.py scan LOG --robots robots.txt --state state.db ...

The arguments are the CLI's. Each stage is timed with ``time.process_time`` (every thread of
the process, so polars' own threads count); indented stages are part of the one above. Used for
the stage table of a cron run (bench/README.md): where a run's CPU goes, measured, before
deciding what to make cheaper. Bytecode is written and read whatever ``PYTHONDONTWRITEBYTECODE``
says: an installed botguard has its ``.pyc`` files, and compiling every module again each run
(~0.13 s of CPU here) is not an import cost a cron run pays.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from typing import Any

sys.dont_write_bytecode = False  # before botguard is imported (below, in main)
BEGAN = time.process_time()
SPENT: dict[str, float] = {}
PEAK: dict[str, tuple[int, int]] = {}  # resident and peak resident MiB when each stage last ended
KERNEL: dict[str, tuple[float, int]] = {}  # system CPU seconds and minor page faults of each stage


def rss_mib() -> tuple[int, int]:
    """VmRSS and VmHWM: the resident set now and its peak so far (Linux)."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line[:5]] = int(line.split()[1]) // 1024
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its CPU time to ``SPENT[label]`` (an absent
    name is skipped: the script runs against older and newer trees alike)."""
    real: Callable[..., Any] | None = getattr(owner, name, None)
    if real is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, before = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        try:
            return real(*args, **kwargs)
        finally:
            SPENT[label] = SPENT.get(label, 0.0) + time.process_time() - start
            PEAK[label] = rss_mib()
            after = resource.getrusage(resource.RUSAGE_SELF)
            system, faults = KERNEL.get(label, (0.0, 0))
            KERNEL[label] = (
                system + after.ru_stime - before.ru_stime,
                faults + after.ru_minflt - before.ru_minflt,
            )

    setattr(owner, name, wrapper)


def _tune() -> None:
    """What the command does first, wherever this tree keeps it (older trees: the CLI)."""
    import botguard.cli
    import botguard.loading

    (getattr(botguard.loading, "tune_libraries", None) or botguard.cli.tune_libraries)()


def main() -> int:
    import botguard.cli

    _tune()  # as the CLI does before polars and numpy are imported (below, by the stages)
    import botguard.cli.scan as cli_scan
    from botguard import judge
    from botguard.app import scan
    from botguard.judge import incremental, store
    from botguard.model import _clientpass, clients, replay
    from botguard.report import json as report_json

    imported = time.process_time() - BEGAN
    for owner, name, label in [
        (scan._FilePartials, "read", "read+merge"), (incremental, "find", "  find stored"),
        (incremental, "merged", "  merge named"), (scan._FilePartials, "_read", "  read new lines"),
        (scan._FilePartials, "judge", "judge"), (judge, "_identities", "  identities"),
        (judge, "judge_clients", "  verdicts"), (judge, "_in_report_order", "  report order"),
        (judge, "_inputs", "  inputs"), (incremental, "frame_from_bytes", "  kept rows decoded"),
        (judge, "_superseded", "  superseded"), (judge, "_identity_changed", "  identity changed"),
        (judge, "_covers", "  covers"), (judge, "_holds", "  holds"),
        (judge, "_rollups", "  roll-ups"), (judge, "_judged_again", "  judged again"),
        (incremental, "judgement", "  rows to keep"),
        (scan, "_with_model", "model"), (_clientpass, "fit_clients", "  client pass"),
        (_clientpass, "weak_labels", "    weak labels"), (_clientpass, "_train", "    train"),
        (_clientpass, "_score_all", "    score the rest"),
        (replay, "signature_raises", "  shared signatures"),
        (scan, "with_traffic", "traffic"), (scan, "save_scan", "save scan"),
        (store, "client_json_table", "  client tables"),
        (incremental, "keep", "keep partials"), (cli_scan, "emit", "report"),
        (report_json, "_write_clients", "  client lines"),
    ]:  # fmt: skip
        timed(owner, name, label)
    del clients
    code = botguard.cli.main(sys.argv[1:])
    total = time.process_time() - BEGAN
    rest = total - imported - sum(v for k, v in SPENT.items() if not k.startswith(" "))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"stage CPU ms (RSS and peak RSS MiB when it ended; system CPU ms, minor page faults): total"
        f" {total * 1000:.0f} (system {usage.ru_stime * 1000:.0f}, {usage.ru_minflt} faults)",
        file=sys.stderr,
    )
    print(f"  {'imports':20} {imported * 1000:7.0f}", file=sys.stderr)
    for label, seconds in SPENT.items():
        system, faults = KERNEL[label]
        print(
            f"  {label:20} {seconds * 1000:7.0f} {PEAK[label][0]:6d} {PEAK[label][1]:6d}"
            f" {system * 1000:7.0f} {faults:8d}",
            file=sys.stderr,
        )
    print(f"  {'other':20} {rest * 1000:7.0f}  (settings, catalogue, identity set-up)", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
