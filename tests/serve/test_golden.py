"""The challenge files match reviewed golden files byte for byte and pass nginx -t / apache2 -t.

BOTGUARD_UPDATE_GOLDEN=1 rewrites them (review the diff).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from botguard.config import ServeSettings
from botguard.keyring import Key, Keyring
from botguard.render._escape import RenderError
from botguard.render.challenge import render_apache, render_nginx
from botguard.render.records import ChallengeTargets
from tests.render.hostile import FIXED
from tests.render.servers import APACHE, NGINX, check, scratch_prefix
from tests.serve.site import APACHE_MODULES, MODULES

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("BOTGUARD_UPDATE_GOLDEN") == "1"
RING = Keyring((Key("0a0b0c0d", "1" * 64, 2000.0), Key("01020304", "2" * 64, 1000.0)))


def _case(name: str) -> tuple[ChallengeTargets, ServeSettings]:
    spec = yaml.safe_load((GOLDEN / name / "case.yaml").read_text(encoding="utf-8"))
    agents = tuple(FIXED) if spec["agents"] == "hostile" else tuple(spec["agents"])
    return ChallengeTargets(tuple(spec["networks"]), agents), replace(ServeSettings(), **spec["serve"])


def _files(name: str) -> list[tuple[str, str]]:
    targets, settings = _case(name)
    return [
        (f.name, f.text)
        for f in render_nginx(targets, settings, RING) + render_apache(targets, settings, RING)
    ]


CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.yaml").exists())


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    """Each case renders to exactly the reviewed bytes (ASCII, deterministic)."""
    for name, text in _files(case):
        path = GOLDEN / case / name
        if UPDATE:
            path.write_text(text, encoding="ascii")
        assert path.exists(), f"missing {path}: run with BOTGUARD_UPDATE_GOLDEN=1 and review"
        assert text == path.read_text(encoding="ascii")
    assert _files(case) == _files(case)


@pytest.mark.parametrize("case", CASES)
def test_golden_files_pass_the_real_servers(case: str) -> None:
    """nginx -t (no warning) and apache2 -t accept the files of every case."""
    files = dict(_files(case))
    with scratch_prefix("nginx") as prefix:
        for name in ("botguard_challenge_http.conf", "botguard_challenge_server.conf"):
            (prefix / "botguard" / name).write_text(files[name])
        (prefix / "nginx.conf").write_text(
            "pid logs/nginx.pid;\nerror_log stderr warn;\nevents {}\nhttp {\n"
            "    include botguard/botguard_challenge_http.conf;\n"
            "    server { listen 127.0.0.1:18090; include botguard/botguard_challenge_server.conf; }\n}\n"
        )
        done = check([NGINX, "-t", "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf"])
        assert done.returncode == 0 and "[warn]" not in done.stderr, done.stderr
    with scratch_prefix("apache") as prefix:
        (prefix / "botguard" / "botguard_challenge.conf").write_text(files["botguard_challenge.conf"])
        modules = "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in APACHE_MODULES)
        (prefix / "apache2.conf").write_text(
            f'ServerRoot "{prefix}"\nDefaultRuntimeDir run\nPidFile run/a.pid\nErrorLog logs/error.log\n{modules}'
            "Listen 127.0.0.1:18091\nServerName 127.0.0.1\nInclude botguard/*.conf\n"
        )
        done = check([APACHE, "-t", "-d", str(prefix), "-f", f"{prefix}/apache2.conf"])
        assert done.returncode == 0, done.stderr


def test_bad_network_or_agent_is_a_render_error() -> None:
    """A non-address and an agent with CR/LF cannot become rules: a clear error, no file."""
    with pytest.raises(RenderError, match="not an IP address"):
        render_nginx(ChallengeTargets(("example.com",)), ServeSettings(), RING)
    with pytest.raises(RenderError, match="CR/LF"):
        render_apache(ChallengeTargets((), ("a\r\nb",)), ServeSettings(), RING)
