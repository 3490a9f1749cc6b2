"""deploy-rules against running nginx and Apache: blocks take effect, failures never break the server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from botguard.deploy import deploy_lock
from tests.deploy.conftest import BYTESPIDER, Site, scan_doc, write_config
from tests.helpers import run_cli
from tests.render.servers import CHROME, check

ROOT = Path(__file__).resolve().parents[2]


def _leftovers(rules: Path) -> list[str]:
    return sorted(p.name for p in rules.iterdir() if p.name.startswith("."))


def _snapshot(rules: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in rules.iterdir() if not p.name.startswith(".")}


def _first_deploy(site: Site) -> None:
    """Deploy the Bytespider-only scan and wait until it is enforced."""
    r = run_cli(*site.args(site.scan("a", scan_doc(with_ip_block=False))))
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: site.server.get(ua=BYTESPIDER), 403) == 403


def test_end_to_end_blocks_and_spares(site: Site) -> None:
    """A scan becomes live rules: crawler UA 403, blocked IP 403, people and robots.txt 200."""
    srv = site.server
    assert srv.get(ua=BYTESPIDER) == 200  # nothing blocked yet
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 0, r.output
    assert "reloaded" in r.stdout, r.output
    assert site.eventually(lambda: srv.get(ua=BYTESPIDER), 403) == 403
    assert site.eventually(lambda: srv.get(source="127.0.0.2"), 403) == 403
    assert srv.get(ua=CHROME) == 200
    assert srv.get("/robots.txt", ua=BYTESPIDER) == 200
    assert srv.get("/robots.txt", source="127.0.0.2") == 200
    assert _leftovers(srv.rules) == []


def test_nothing_changed_writes_nothing_and_does_not_reload(site: Site) -> None:
    """A second run over the same scan leaves files untouched and skips the reload."""
    _first_deploy(site)
    before = {p.name: p.stat().st_mtime_ns for p in site.server.rules.iterdir()}
    r = run_cli(*site.args(site.tmp / "a.json"))
    assert r.exit_code == 0, r.output
    assert "unchanged, not reloaded" in r.stdout, r.output
    assert {p.name: p.stat().st_mtime_ns for p in site.server.rules.iterdir()} == before


def test_failed_live_validation_keeps_the_old_rules(site: Site) -> None:
    """The site's own config is broken: validation fails, old files come back, old rules stay active."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    conf = site.server.prefix / ("nginx.conf" if site.server.kind == "nginx" else "apache2.conf")
    good = conf.read_text()
    conf.write_text(
        good + ("\nbroken_directive;\n" if site.server.kind == "nginx" else "\nBrokenDirective on\n")
    )
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line]
    assert len(errors) == 1 and "validation failed" in errors[0], r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    conf.write_text(good)
    assert check(site.server.validate).returncode == 0
    assert site.server.get(ua=BYTESPIDER) == 403  # old rule still enforced
    assert site.server.get(source="127.0.0.2") == 200  # new rule never went live


def test_broken_render_is_caught_before_anything_is_written(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files the server cannot parse on their own never reach the rule directory."""
    from botguard.deploy import app
    from botguard.render.records import RuleFile

    _first_deploy(site)
    old = _snapshot(site.server.rules)

    class Broken:
        name = site.server.kind

        def render(self, decisions):  # type: ignore[no-untyped-def]
            return tuple(RuleFile(name, "garbage here;\n") for name in old)

    monkeypatch.setattr(app, "renderers", lambda *a: {"nginx": Broken(), "apache": Broken()})
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1 and "rejected" in r.stderr, r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    assert site.server.get(ua=BYTESPIDER) == 403


def test_failed_reload_restores_and_reloads_again(site: Site) -> None:
    """Reload fails: previous files are restored and the error is one line."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    write_config(site.config, site.server.kind, site.server, reload=["false"])
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1 and "reload failed" in r.stderr, r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    assert site.server.get(source="127.0.0.2") == 200


@pytest.mark.parametrize("step", ["swapped", "validated"])
def test_killed_between_swap_and_reload_leaves_a_valid_config(site: Site, step: str) -> None:
    """kill -9 after the swap: the config on disk is valid, the server keeps serving, the next run finishes."""
    _first_deploy(site)
    scan = site.scan("b", scan_doc(with_ip_block=True))
    script = textwrap.dedent(f"""
        import os
        from datetime import UTC, datetime
        from botguard.config import load_settings
        from botguard.deploy import DeployRequest, run_deploy
        def hook(step):
            if step == {step!r}:
                os._exit(137)
        run_deploy(DeployRequest(load_settings({str(site.config)!r}), datetime.now(UTC), {str(site.state)!r},
                   {str(scan)!r}, **{{{("nginx_dir" if site.server.kind == "nginx" else "apache_dir")!r}:
                   {str(site.server.rules)!r}}}, hook=hook))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 137, done.stderr
    assert ".botguard-deploy.journal" in _leftovers(site.server.rules)
    assert check(site.server.validate).returncode == 0  # whatever is on disk is a valid config
    assert (
        site.server.get(ua=BYTESPIDER) == 403 and site.server.get(source="127.0.0.2") == 200
    )  # not reloaded
    r = run_cli(*site.args(scan))
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: site.server.get(source="127.0.0.2"), 403) == 403
    assert _leftovers(site.server.rules) == []


def test_concurrent_run_is_refused_by_the_lock(site: Site) -> None:
    """While another run holds the lock, deploy-rules exits 1 and changes nothing."""
    before = _snapshot(site.server.rules)
    with deploy_lock(site.tmp / "deploy.lock"):
        r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1 and "lock" in r.stderr, r.output
    assert _snapshot(site.server.rules) == before


def test_dry_run_shows_diff_and_impact_and_changes_nothing(site: Site) -> None:
    """--dry-run: unified diff, impact split, no file or state written."""
    before = _snapshot(site.server.rules)
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True)), "--dry-run"))
    assert r.exit_code == 0, r.output
    assert "+++ " in r.stdout and "Bytespider" in r.stdout, r.output
    assert "crawlers            clients 2/2, requests 10/10" in r.stdout, r.output
    assert "humans              clients 0/1" in r.stdout and "WARNING" not in r.stderr, r.output
    assert _snapshot(site.server.rules) == before
    assert (
        not os.path.exists(site.state) or run_cli(*site.args(site.tmp / "b.json", "--dry-run")).exit_code == 0
    )


def test_health_probe_failure_rolls_back(site: Site) -> None:
    """The probe URL does not answer after the reload: previous files back, reloaded, exit 1."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    conf = yaml.safe_load(site.config.read_text())
    conf["deploy"][site.server.kind]["probe"] = "http://127.0.0.1:1/robots.txt"  # nothing listens there
    site.config.write_text(yaml.safe_dump(conf))
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1 and "health probe" in r.stderr, r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    assert site.eventually(lambda: site.server.get(source="127.0.0.2"), 200) == 200


def test_health_probe_success(site: Site) -> None:
    """A probe of the site's robots.txt passes and the deploy completes."""
    conf = yaml.safe_load(site.config.read_text())
    conf["deploy"][site.server.kind]["probe"] = f"http://127.0.0.1:{site.server.port}/robots.txt"
    site.config.write_text(yaml.safe_dump(conf))
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: site.server.get(source="127.0.0.2"), 403) == 403


def test_example_log_scan_then_deploy(site: Site, tmp_path: Path) -> None:
    """`botguard scan` of the bundled example into state, then deploy-rules without --from:
    the example's blocked crawlers get 403 by user agent, but for a welcome crawler of the
    reference corpus (Seekport: blocked by address only); its humans and search engines 200."""
    import json

    from botguard.catalog import reference_agents

    state = str(site.state)
    out = tmp_path / "scan.json"
    r = run_cli("scan", str(ROOT / "examples/access.log"), "--robots", str(ROOT / "examples/robots.txt"),
                "--config", str(ROOT / "examples/botguard.yaml"), "--state", state, "--format", "json", "-o", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    args = site.args(out)
    args = args[:1] + args[3:]  # drop --from: use the scan stored in the state database
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    clients = json.loads(out.read_text())["clients"]
    crawlers = {c["name"] for c in json.loads(out.read_text())["crawlers"] if c["verdict"] == "block"}
    welcome = set(reference_agents().good_bots)
    mine = [c["user_agent"] for c in clients if c["crawler"] in crawlers and c["crawler"] != "curl"]
    blocked = [ua for ua in mine if ua.lower() not in welcome]
    assert [ua for ua in mine if ua.lower() in welcome] == [
        "Mozilla/5.0 (compatible; Seekport Crawler; http://seekport.com/)"
    ]
    spared = [
        c["user_agent"]
        for c in clients
        if c["verdict"] == "allow" and c["category"] in ("human", "search-engine")
    ]
    assert blocked and spared
    assert site.eventually(lambda: site.server.get(ua=blocked[0]), 403) == 403
    assert [ua for ua in blocked if site.server.get(ua=ua) != 403] == []
    assert [ua for ua in spared if site.server.get(ua=ua) != 200] == []
    assert [ua for ua in mine if ua not in blocked and site.server.get(ua=ua) != 200] == []
    assert all(site.server.get("/robots.txt", ua=ua) == 200 for ua in blocked[:5])
