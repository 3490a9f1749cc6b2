"""The shipped challenge snippets (nginx/, apache/) pass the real servers with generated files."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from botguard.config import ServeSettings
from botguard.keyring import Key, Keyring
from botguard.render.challenge import render_apache, render_nginx, write_files
from botguard.render.records import ChallengeTargets
from tests.render.servers import APACHE, NGINX, check, free_port, scratch_prefix
from tests.serve.site import APACHE_MODULES, MODULES

ROOT = Path(__file__).resolve().parents[2]
RING = Keyring((Key("0a0b0c0d", "1" * 64, 0.0),))
TARGETS = ChallengeTargets(("192.0.2.0/24",), ("EvilScraper/1.0",))


def test_nginx_challenge_example_passes_nginx_t() -> None:
    """challenge-example.conf, paths moved into a prefix, passes `nginx -t` without warnings."""
    with scratch_prefix("nginx") as prefix:
        write_files(prefix / "botguard", render_nginx(TARGETS, ServeSettings(), RING))
        site = (
            (ROOT / "nginx" / "challenge-example.conf")
            .read_text()
            .replace("/etc/nginx/botguard", str(prefix / "botguard"))
        )
        site = site.replace("listen 80;", "listen 127.0.0.1:18083;").replace(
            "/var/www/html", str(prefix / "html")
        )
        (prefix / "nginx.conf").write_text(
            f"pid {prefix}/nginx.pid;\nerror_log stderr warn;\nevents {{ }}\nhttp {{\n{site}\n}}\n"
        )
        done = check([NGINX, "-t", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")])
        assert done.returncode == 0 and "[warn]" not in done.stderr, done.stderr


def test_apache_challenge_example_passes_apache_t() -> None:
    """challenge-example.conf with the generated file passes `apache2 -t` (modules it names loaded)."""
    with scratch_prefix("apache") as prefix:
        write_files(prefix / "botguard", render_apache(TARGETS, ServeSettings(), RING))
        assert (prefix / "botguard" / "botguard_challenge.conf").stat().st_mode & 0o777 == 0o600
        site = (
            (ROOT / "apache" / "challenge-example.conf")
            .read_text()
            .replace("/etc/apache2/botguard", str(prefix / "botguard"))
        )
        site = site.replace("*:80", "127.0.0.1:18084").replace("/var/www/html", str(prefix / "htdocs"))
        modules = "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in APACHE_MODULES)
        (prefix / "apache2.conf").write_text(
            f'ServerRoot "{prefix}"\nDefaultRuntimeDir run\nPidFile run/a.pid\nErrorLog logs/error.log\n{modules}'
            f"Listen 127.0.0.1:18084\nServerName 127.0.0.1\n{site}"
        )
        done = check([APACHE, "-t", "-d", str(prefix), "-f", str(prefix / "apache2.conf")])
        assert done.returncode == 0, done.stderr


def test_systemd_unit_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The unit's ExecStart (paths and port moved) serves /.botguard/healthz; its KillSignal exits 0."""
    unit = (ROOT / "examples" / "botguard-serve.service").read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M)[1])  # type: ignore[index]
    assert argv[:2] == ["/usr/local/bin/botguard", "serve"] and "127.0.0.1:8787" in argv
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M) and re.search(
        r"^StateDirectory=botguard$", unit, re.M
    )
    port = free_port()
    moved = {"/var/lib/botguard/state.db": str(tmp_path / "state.db"), "127.0.0.1:8787": f"127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "botguard", *(moved.get(a, a) for a in argv[1:])], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/.botguard/healthz", timeout=1
                ) as answer:
                    assert json.load(answer)["status"] == "ok"
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("serve did not answer")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert (tmp_path / "serve-secret.json").stat().st_mode & 0o777 == 0o600
