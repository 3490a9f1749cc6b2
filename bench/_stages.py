"""What small_stages.py and served_stages.py share: the code their child processes run to time
each step ``run_scan`` calls, and the best-of table they print from it."""

from __future__ import annotations

#: Child code: counts polars queries (``collects``), wraps each step of botguard/app/scan.py by
#: name (so a baseline tree missing one still runs) and ``run_scan``, appending to ``rows``
#: (stage, wall s, CPU s, queries) when each returns. The child defines ``rows`` before it.
WRAP_STEPS = r"""
collects = [0]
from polars.lazyframe import engine
real_collect = engine._LocalEngine.collect
def collect(self, *args, **kwargs):
    collects[0] += 1
    return real_collect(self, *args, **kwargs)
engine._LocalEngine.collect = collect
import botguard.app.scan as scan
import botguard.cli.scan as cli_scan
def wrap(owner, name, label):
    real = getattr(owner, name)
    def timed(*args, **kwargs):
        wall, cpu, queries = time.perf_counter(), time.process_time(), collects[0]
        try:
            return real(*args, **kwargs)
        finally:
            rows.append((label, time.perf_counter() - wall, time.process_time() - cpu, collects[0] - queries))
    setattr(owner, name, timed)
STEPS = [
    (cli_scan, "load_settings", "settings"), (scan, "RobotsSources", "robots.txt files"),
    (scan, "load_catalog", "catalogue"),
    (scan, "aggregator", "aggregator"), (scan, "identity_sources", "identity sources (ranges, ASN table)"),
    (scan, "build_identifier", "identifier"), (scan._FilePartials, "read", "read + aggregate (+ stored partial)"),
    (scan._FilePartials, "judge", "judge (identity, verdicts)"), (scan, "_with_model", "model step"),
    (scan, "with_traffic", "traffic summary"), (scan, "save_scan", "state: save scan"),
    (scan.incremental, "keep", "state: keep the file's partial"), (cli_scan, "emit", "report written"),
]
for owner, name, label in STEPS:
    if hasattr(owner, name):
        wrap(owner, name, label)
wrap(cli_scan, "run_scan", "run_scan in all")
"""

Rows = list[tuple[str, float, float, int]]
Best = dict[str, tuple[float, float, int]]


def best_of(runs: list[Rows]) -> Best:
    """Per stage, the least wall and the least CPU over ``runs`` (each may come from another run)."""
    best: Best = {}
    for rows in runs:
        for stage, wall, cpu, queries in rows:
            old = best.get(stage, (float("inf"), float("inf"), queries))
            best[stage] = (min(old[0], wall), min(old[1], cpu), min(old[2], queries))
    return best
