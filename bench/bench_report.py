#!/usr/bin/env python3
"""What the HTML report costs: generation time and file size at 1M and 5M lines, and how soon
headless Chromium shows it.

    python bench/bench_report.py [--sizes 1000000,5000000] [--skip-browser]
    python bench/bench_report.py --log bench/out/g1m.log --robots bench/out/g1m.robots.txt

For each log (bench_scan's cached generated logs, or --log/--robots) it runs, as child
processes with a fresh state database: ``scan --format json`` (the baseline: the scan a user
pays anyway), ``scan --format html`` (the same scan writing the report, with the rules preview),
and ``report`` (the report of the stored scan, a second command). In-process it times
``write_html`` alone on the stored scan (the page itself, without the preview). Then Chromium
opens the file: the first contentful paint and the moment the client table is drawn.

Targets: the report's own work (the rules preview and the page, in-process) takes under 10%
of the scan's time (``scan --format json``, a child process), the file is under 5 MB, and the
1M-line report's table is drawn in under 2 s. ``html-json`` (the two scans' difference) is
printed too; on a loaded machine it moves by seconds between runs.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_scan  # noqa: E402

TARGET_SHARE = 0.10  # the report's time / the scan's time
TARGET_BYTES = 5_000_000
TARGET_RENDER_S = 2.0  # the 1M-line report, table drawn


@dataclass(frozen=True, slots=True)
class Figures:
    lines: int
    scan_s: float
    scan_html_s: float
    report_verb_s: float
    preview_s: float
    write_html_s: float
    clients: int
    size: int
    paint_s: float | None
    table_s: float | None


def _child(argv: list[str], work: Path) -> float:
    run = bench_scan.run_child(argv, work)
    if run.returncode != 0:
        raise SystemExit(f"bench_report: {' '.join(argv[:3])} failed:\n{run.stderr_tail}")
    return run.seconds


def _in_process(state: Path) -> tuple[float, float, int]:
    """Seconds the rules preview and ``write_html`` take on the stored scan (best of 3 each),
    and the scan's clients: the report's own cost, without a second process's start-up."""
    from botguard.app.report import rules_preview
    from botguard.config import load_settings
    from botguard.judge.store import latest_scan
    from botguard.report import write_html
    from botguard.state import State

    with State(state) as db:
        result = latest_scan(db)
    assert result is not None
    settings = load_settings(None)
    rules_preview(result, settings)  # imports and the catalogue, which a scan has loaded already
    preview_s = write_s = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        preview = rules_preview(result, settings)
        middle = time.perf_counter()
        write_html(result, io.StringIO(), preview=preview)
        preview_s, write_s = min(preview_s, middle - began), min(write_s, time.perf_counter() - middle)
    return preview_s, write_s, result.clients.height


def _render(path: Path) -> tuple[float, float]:
    """(first contentful paint, client table drawn) in seconds from navigation, in Chromium."""
    from tests.serve.browser import chromium

    with chromium() as browser:
        page = browser.new_page()
        page.goto(path.as_uri())  # a first load warms the browser's caches: the second counts
        page.locator("#bg-clients-table[data-ready='1']").wait_for(timeout=60_000)
        page.close()
        page = browser.new_page()
        began = time.perf_counter()
        page.goto(path.as_uri())
        page.locator("#bg-clients-table[data-ready='1']").wait_for(timeout=60_000)
        table = time.perf_counter() - began
        paint = page.evaluate(
            "performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] || null"
        )
        page.close()
    return (paint / 1000 if paint is not None else table), table


def measure(log: Path, robots: Path, lines: int, browser: bool, botguard: list[str], repeat: int) -> Figures:
    """The figures of one log; each command's best of ``repeat`` runs, the two scans alternating
    (the machine's load moves between runs)."""
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        base = [*botguard, "scan", str(log), "--robots", str(robots), "--no-dns"]
        html = work / "report.html"
        scan = scan_html = verb = float("inf")
        for n in range(repeat):
            for db in (work / "a.db", work / "b.db"):
                db.unlink(missing_ok=True)
            json_run = [*base, "--state", str(work / "a.db"), "--format", "json", "-o", str(work / "s.json")]
            html_run = [*base, "--state", str(work / "b.db"), "--format", "html", "-o", str(html)]
            first, second = (json_run, html_run) if n % 2 == 0 else (html_run, json_run)
            times = {id(first): _child(first, work), id(second): _child(second, work)}
            scan, scan_html = min(scan, times[id(json_run)]), min(scan_html, times[id(html_run)])
            report = [*botguard, "report", "--state", str(work / "a.db"), "-o", str(work / "r.html")]
            verb = min(verb, _child(report, work))
        preview_s, write_s, clients = _in_process(work / "a.db")
        paint, table = _render(html) if browser else (None, None)
        return Figures(
            lines, scan, scan_html, verb, preview_s, write_s, clients, html.stat().st_size, paint, table
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000000,5000000", help="generated log sizes (comma-separated)")
    p.add_argument("--log", type=Path, help="a log to use instead of generated ones (with --robots)")
    p.add_argument("--robots", type=Path)
    p.add_argument("--out-dir", type=Path, default=BENCH / "out")
    p.add_argument("--skip-browser", action="store_true")
    p.add_argument("--repeat", type=int, default=3, help="runs of each command; the best counts (default 3)")
    p.add_argument("--botguard", help="the botguard command (default: the venv's)")
    args = p.parse_args(argv)
    botguard = bench_scan.botguard_argv(args.botguard)
    if args.log:
        if not args.robots:
            p.error("--log needs --robots")
        logs = [(args.log.resolve(), args.robots.resolve(), sum(1 for _ in args.log.open("rb")))]
    else:
        logs = []
        for size in (int(s) for s in args.sizes.split(",")):
            log, robots, _ = bench_scan.ensure_log(args.out_dir, size, 1)
            logs.append((log, robots, size))
    ok = True
    print("lines      clients  scan s  html-json s  report verb s  preview s  write_html s  (share)  size MB  paint s"
          "  table s")  # fmt: skip
    for log, robots, lines in logs:
        f = measure(log, robots, lines, not args.skip_browser, botguard, max(1, args.repeat))
        share = (f.preview_s + f.write_html_s) / f.scan_s
        paint = f"{f.paint_s:7.2f}" if f.paint_s is not None else "      -"
        table = f"{f.table_s:7.2f}" if f.table_s is not None else "      -"
        print(f"{f.lines:>9,} {f.clients:>8,} {f.scan_s:7.2f} {f.scan_html_s - f.scan_s:+12.2f} "
              f"{f.report_verb_s:13.2f} {f.preview_s:10.2f} {f.write_html_s:13.2f} ({share:5.1%})"
              f" {f.size / 1e6:8.2f} {paint}  {table}")  # fmt: skip
        checks = [
            (f"preview + page <= {TARGET_SHARE:.0%} of the scan", share <= TARGET_SHARE),
            (f"file <= {TARGET_BYTES / 1e6:.0f} MB", f.size <= TARGET_BYTES),
        ]
        if f.table_s is not None and lines <= 1_000_000:
            checks.append((f"table drawn <= {TARGET_RENDER_S:.0f} s", f.table_s <= TARGET_RENDER_S))
        for name, passed in checks:
            print(f"  {'PASS' if passed else 'FAIL'} {lines:,} lines: {name}")
            ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
