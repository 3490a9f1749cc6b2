"""What the command's children see of its environment: the settings the command makes for its own
libraries (polars' allocator, numpy's BLAS threads) are for this process, not for the server
commands it runs. A reload command that starts Apache (``apachectl restart`` when it was down)
would otherwise hand them to the site's own applications (mod_wsgi, PHP) for as long as it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.conftest import scan_doc

ADDED = ("OPENBLAS_NUM_THREADS", "_RJEM_MALLOC_CONF")


def _children_env(tmp_path: Path, own: dict[str, str]) -> dict[str, dict[str, str]]:
    """The environment ``deploy-rules``' validate and reload commands ran with, botguard started
    (a process of its own, as cron starts it) with the caller's environment plus ``own``."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "scan.json").write_text(json.dumps(scan_doc(with_ip_block=True)))
    dump = [sys.executable, "-c", "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"]
    conf = {
        "deploy": {
            "nginx": {
                "validate": [*dump, str(tmp_path / "validate.json")],
                "reload": [*dump, str(tmp_path / "reload.json")],
            }
        }
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    env = {k: v for k, v in os.environ.items() if k not in ADDED} | own
    done = subprocess.run(
        [sys.executable, "-m", "botguard", "deploy-rules", "--from", str(tmp_path / "scan.json"),
         "--nginx-dir", str(tmp_path / "rules"), "--config", str(tmp_path / "c.yaml"),
         "--state", str(tmp_path / "s.db")],
        capture_output=True, text=True, check=False, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {step: json.loads((tmp_path / f"{step}.json").read_text()) for step in ("validate", "reload")}


def test_server_commands_see_the_users_environment_not_botguards_library_settings(tmp_path: Path) -> None:
    seen = _children_env(tmp_path, {})
    for step, env in seen.items():
        assert not set(ADDED) & set(env), (step, {k: env[k] for k in ADDED if k in env})


def test_a_users_own_library_settings_reach_the_server_commands(tmp_path: Path) -> None:
    """What the user set is passed on as set (botguard's additions aside)."""
    seen = _children_env(tmp_path, {"OPENBLAS_NUM_THREADS": "4", "_RJEM_MALLOC_CONF": "narenas:2"})
    for env in seen.values():
        assert env["OPENBLAS_NUM_THREADS"] == "4"
        assert env["_RJEM_MALLOC_CONF"].split(",")[-1] == "narenas:2"
