#!/usr/bin/env python3
"""nginx (or Apache) throughput with botguard's rules vs the bare server, and reload latency, in the same run.

    python bench/bench_deploy.py [--server nginx|apache] [--ua 10000] [--ip 10000] [--duration 5] [--repeat 2]

Targets: with 10k UA entries and 10k IP entries, nginx serves at least 0.75x the
requests/s of the same nginx with empty botguard rules (wrk -t1 -c32 on loopback, best of --repeat,
a non-matching Chrome agent, runs interleaved: every request walks the whole UA map and geo tree), and a
deploy (`nginx -s reload` after new rules) is enforced in under 200 ms. ``--server apache`` runs
the same measurement on Apache (event MPM; ``--ua`` defaults to 1,000 there, the size the
README recommends) and reports without a target.

Why a ratio: absolute req/s moves +-30% between runs on a shared VM (notes/webservers.md),
so both configurations are measured back to back in one run. Rules are the real renderer's
output for random tokens like ``abcdefbot01234`` and random addresses in 10.0.0.0/8.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botguard.decide import Decision, DecisionSet, Match
from botguard.render.apache import ApacheRenderer
from botguard.render.base import TextRenderer
from botguard.render.nginx import NginxRenderer

# the same harness configs the server tests run
from tests.render.servers import NGINX, NGINX_CONF, apache_commands, make_prefix, write_apache_conf

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def decisions(n_ua: int, n_ip: int, seed: int = 1) -> DecisionSet:
    rng = random.Random(seed)
    uas = {"".join(rng.choices(string.ascii_lowercase, k=6)) + f"bot{i:05d}" for i in range(n_ua)}
    ips = {str(ipaddress.ip_address(0x0A000000 + rng.randrange(1, 1 << 24))) for _ in range(n_ip)}
    return DecisionSet.of([Decision("block", Match("ua_pattern", u)) for u in uas]
                          + [Decision("block", Match("ip", i)) for i in ips])  # fmt: skip


def status(port: int, ua: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/index.html", headers={"User-Agent": ua})
        return conn.getresponse().status
    finally:
        conn.close()


class Server:
    """nginx or Apache under a temp prefix with the given decisions rendered into it.

    ``reloads`` maps a label to the way of applying new files: the server's own command (which
    parses the whole configuration once more first) or a signal to the master/parent.
    """

    def __init__(self, kind: str, ds: DecisionSet, renderer: TextRenderer | None = None) -> None:
        self.kind = kind
        self.renderer = renderer or (NginxRenderer() if kind == "nginx" else ApacheRenderer())
        self.prefix = make_prefix(kind)
        self.write(ds)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.reloads: dict[str, list[str] | signal.Signals]
        if kind == "nginx":
            (self.prefix / "nginx.conf").write_text(NGINX_CONF.format(port=self.port, connections=4096))
            self.base = [NGINX, "-p", f"{self.prefix}/", "-c", f"{self.prefix}/nginx.conf"]
            start, command, sig = (
                self.base + ["-g", "daemon off;"],
                self.base + ["-s", "reload"],
                signal.SIGHUP,
            )
            self.reloads = {"nginx -s reload": command, "kill -HUP master": sig}
        else:
            write_apache_conf(self.prefix, self.port)
            _, command, start = apache_commands(self.prefix)
            self.reloads = {"apache2 -k graceful": command, "kill -USR1 parent": signal.SIGUSR1}
        self.proc = subprocess.Popen(start)
        self.wait(lambda: status(self.port, CHROME) == 200)

    @property
    def rules_file(self) -> Path:
        return self.prefix / "botguard" / self.renderer.render(DecisionSet())[0].name

    def write(self, ds: DecisionSet) -> None:
        for f in self.renderer.render(ds):
            tmp = self.prefix / "botguard" / (f.name + ".tmp")
            tmp.write_text(f.text)
            os.replace(tmp, self.prefix / "botguard" / f.name)

    def reload(self, how: list[str] | signal.Signals) -> None:
        if isinstance(how, list):
            subprocess.run(how, check=True, capture_output=True)
        else:
            os.kill(self.proc.pid, how)

    @staticmethod
    def wait(ready, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            try:
                if ready():
                    return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("server not ready")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT if self.kind == "nginx" else signal.SIGTERM)
        self.proc.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)


def wrk(port: int, duration: int) -> float:
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{duration}s", "-H", f"User-Agent: {CHROME}",
                          f"http://127.0.0.1:{port}/index.html"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise RuntimeError("Chrome was not served 200: " + out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=("nginx", "apache"), default="nginx")
    parser.add_argument("--ua", type=int, help="UA rules (default 10,000 for nginx, 1,000 for Apache)")
    parser.add_argument("--ip", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_deploy: wrk not found on PATH; install it (apt-get install wrk)", file=sys.stderr)
        return 2
    n_ua = args.ua if args.ua is not None else (10_000 if args.server == "nginx" else 1_000)
    rules = decisions(n_ua, args.ip)
    bare, full = Server(args.server, DecisionSet()), Server(args.server, rules)
    try:
        runs: dict[str, list[float]] = {"bare": [], "rules": []}
        for _ in range(args.repeat):  # interleaved: a load spike hits both sides alike
            runs["bare"].append(wrk(bare.port, args.duration))
            runs["rules"].append(wrk(full.port, args.duration))
        base, with_rules = max(runs["bare"]), max(runs["rules"])
        # reload latency: add one new token, reload, time until it is enforced
        reloads: dict[str, list[float]] = {how: [] for how in full.reloads}
        for n in range(10):
            how = list(reloads)[n % 2]
            token = f"freshbot{n}zz"
            full.write(
                DecisionSet.of(list(rules.decisions) + [Decision("block", Match("ua_pattern", token))])
            )
            start = time.perf_counter()
            full.reload(full.reloads[how])
            Server.wait(lambda t=token: status(full.port, f"x {t}") == 403)
            reloads[how].append(time.perf_counter() - start)
        bare_reloads = []  # same measurement with no other rules: the machine's own floor
        kill, sig = list(bare.reloads.items())[1]
        for n in range(5):
            token = f"barebot{n}zz"
            bare.write(DecisionSet.of([Decision("block", Match("ua_pattern", token))]))
            start = time.perf_counter()
            bare.reload(sig)
            Server.wait(lambda t=token: status(bare.port, f"x {t}") == 403)
            bare_reloads.append(time.perf_counter() - start)
        conf_kb = full.rules_file.stat().st_size / 1024
        conf_name = full.rules_file.name
    finally:
        bare.stop()
        full.stop()
    ratio = with_rules / base
    nginx = args.server == "nginx"
    medians = {how: sorted(ts)[len(ts) // 2] * 1000 for how, ts in reloads.items()}
    width = max(map(len, reloads)) + 1
    print(f"rules: {n_ua} UA + {args.ip} IP entries, {conf_name} {conf_kb:.0f} KB")
    print(f"bare {args.server:<14} {base:10.0f} req/s")
    print(
        f"with botguard rules {with_rules:10.0f} req/s   ratio {ratio:.2f}"
        + ("  (target >= 0.75)" if nginx else "  (no target)")
    )
    for how, ts in reloads.items():
        target = "  (target < 200 ms)" if nginx else ""
        print(
            f"{how:<{width}} -> new rule enforced: median {medians[how]:.0f} ms, max {max(ts) * 1000:.0f} ms{target}"
        )
    floor = sorted(bare_reloads)[2] * 1000
    print(
        f"{kill.rsplit(' ', 1)[0] + ', 1 rule':<19} -> new rule enforced: median {floor:.0f} ms (this machine's floor)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (absolute times scale with it)")
    return 0 if not nginx or (ratio >= 0.75 and min(medians.values()) < 200) else 1


if __name__ == "__main__":
    sys.exit(main())
