#!/usr/bin/env python3
"""Check that two botguard commands give the same scan JSON (ordering aside) on the same logs.

    python bench/scan_equal.py --baseline "env PYTHONPATH=/tmp/main python -m botguard" \
        [--robots robots.txt] LOG [LOG ...]

Why: speed work must not change a result. Each log is scanned by both commands as a user
would (``scan LOG --format json --no-dns --no-save``, identity and model on), and the documents
are compared after sorting every list (clients, crawlers, evidence), along with exit codes and
stderr. Prints one line per log and exits 1 if any differ.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path


def canonical(value: object) -> object:
    """``value`` with every list sorted (by its items' JSON), so ordering does not count."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def scan(command: list[str], log: Path, robots: Path | None) -> tuple[int, object, str]:
    """(exit code, canonical JSON or None, stderr) of one scan."""
    argv = [*command, "scan", str(log), "--format", "json", "--no-dns", "--no-save"]
    if robots is not None:
        argv += ["--robots", str(robots)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        doc = canonical(json.loads(done.stdout)) if done.stdout.strip() else None
    except ValueError:
        doc = done.stdout
    return done.returncode, doc, done.stderr


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("logs", nargs="+", type=Path)
    p.add_argument("--baseline", required=True, help="the other botguard command")
    p.add_argument("--botguard", default=f"{sys.executable} -m botguard", help="this botguard command")
    p.add_argument("--robots", type=Path, help="robots.txt for every scan")
    args = p.parse_args(argv)
    differ = 0
    for log in args.logs:
        ours = scan(shlex.split(args.botguard), log, args.robots)
        theirs = scan(shlex.split(args.baseline), log, args.robots)
        same = ours == theirs
        differ += not same
        clients = len(ours[1].get("clients", [])) if isinstance(ours[1], dict) else 0
        print(f"{'same' if same else 'DIFFERENT'}: {log} (exit {ours[0]}, {clients} clients)")
        if not same:
            print(f"  exit {ours[0]} vs {theirs[0]}; stderr equal: {ours[2] == theirs[2]}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
