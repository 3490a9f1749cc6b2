#!/usr/bin/env python3
"""What rendering on the host costs: ``receive-rules`` reading, checking and rendering a decision
set, against rendering the same set alone (what the sender does for a local target, and all the
work the host did when it was sent files), and the request's size against the files'.

    python bench/bench_receive.py [--ips 10000] [--agents 2000] [--repeat 5]

The decision set: blocked addresses and /24s, exact agents (browser-like, as a scan's rules for
self-declared bots look), model substrings, challenges, an allowlist; nginx and Apache, with
the challenge routing. Times are CPU seconds of this process, best of ``--repeat``; printed with
the ratio to the render alone and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botguard.config import ServeSettings  # noqa: E402
from botguard.decide.records import Decision, DecisionSet, Match  # noqa: E402
from botguard.deploy.precheck import PRECHECKS  # noqa: E402
from botguard.deploy.records import RemoteTarget, Rendering  # noqa: E402
from botguard.deploy.ssh import receive_request, request_text  # noqa: E402
from botguard.keyring import Key, Keyring  # noqa: E402


def decisions(ips: int, agents: int) -> DecisionSet:
    out = [
        Decision("block", Match("ip", f"203.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"))
        for i in range(ips)
    ]
    out += [
        Decision("block", Match("cidr", f"198.{i // 256 % 256}.{i % 256}.0/24")) for i in range(ips // 10)
    ]
    out += [
        Decision(
            "block",
            Match("ua_exact", f"Mozilla/5.0 (compatible; Crawler{i}/1.{i % 7}; +https://c{i}.example/bot)"),
        )
        for i in range(agents)
    ]
    out += [
        Decision("block", Match("ua_pattern", f"scrapebot{i}"), ("model",), "model")
        for i in range(agents // 20)
    ]
    out += [
        Decision("challenge", Match("cidr", f"100.{i // 256 % 256}.{i % 256}.0/24")) for i in range(ips // 10)
    ]
    out += [Decision("allow", Match("ua_pattern", "monitor-ok"), ("allowlist",), "config")]
    return DecisionSet.of(out)


def best_cpu(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ips", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chosen = decisions(args.ips, args.agents)
    ring = Keyring((Key("0123abcd", "ab" * 32, 1.0),))
    rendering = Rendering(2, 4, ServeSettings(), ring)
    print(f"load average {os.getloadavg()[0]:.1f}; {len(chosen):,} decisions; CPU s, best of {args.repeat}")
    for server in ("nginx", "apache"):
        target = RemoteTarget("web", "ssh://u@h:22/r", "u@h", 22, "/r", server, rendering, (), ())
        renderer = rendering.renderer(server)
        render = best_cpu(lambda: renderer.render(chosen), args.repeat)  # noqa: B023
        text = request_text(target, chosen, reload=True, dry_run=False)
        send = best_cpu(lambda: request_text(target, chosen, reload=True, dry_run=False), args.repeat)  # noqa: B023

        def receive() -> object:
            got = receive_request(text, PRECHECKS)  # noqa: B023
            return got.target.renderer.render(got.decisions)

        host = best_cpu(receive, args.repeat)
        files = sum(len(f.text) for f in renderer.render(chosen))
        print(
            f"{server}: render alone {render:.3f} s; sender builds the request {send:.3f} s; host reads, checks"
            f" and renders {host:.3f} s ({host / render:.2f}x the render alone); request {len(text) / 1e6:.2f} MB"
            f" vs files {files / 1e6:.2f} MB ({len(text) / files:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
