"""deploy-rules against running nginx and Apache: blocks take effect, failures never break the server."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from botguard.decide import DecisionSet
from botguard.decide.store import load_decisions
from botguard.deploy import deploy_lock
from botguard.deploy.lock import DIR_LOCK
from botguard.render.nginx import NginxRenderer
from botguard.state import State
from tests.deploy.conftest import BLOCKED_IP, BYTESPIDER, Site, client, scan_doc, write_config
from tests.helpers import Result, run_cli
from tests.render.servers import CHROME, Server, check, running

ROOT = Path(__file__).resolve().parents[2]


def _leftovers(rules: Path) -> list[str]:
    """Hidden files a run left in the rules directory (its lock file is kept on purpose)."""
    return sorted(p.name for p in rules.iterdir() if p.name.startswith(".") and p.name != DIR_LOCK)


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
    assert site.eventually(lambda: srv.get(source=BLOCKED_IP), 403) == 403
    assert srv.get(ua=CHROME) == 200
    assert srv.get("/robots.txt", ua=BYTESPIDER) == 200
    assert srv.get("/robots.txt", source=BLOCKED_IP) == 200
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
    # the reason itself, also where the server spreads it over two lines (Apache: "AH00526: Syntax
    # error on line N of FILE:" and then "Invalid command 'BrokenDirective', ...")
    reason = 'unknown directive "broken_directive"' if site.server.kind == "nginx" else "'BrokenDirective'"
    assert reason in errors[0], r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    conf.write_text(good)
    assert check(site.server.validate).returncode == 0
    assert site.server.get(ua=BYTESPIDER) == 403  # old rule still enforced
    assert site.server.get(source=BLOCKED_IP) == 200  # new rule never went live


def test_broken_render_is_caught_before_anything_is_written(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files the server cannot parse on their own never reach the rule directory."""
    from botguard.deploy.records import Rendering
    from botguard.render.records import RuleFile

    _first_deploy(site)
    old = _snapshot(site.server.rules)

    class Broken:
        name = site.server.kind

        def render(self, decisions):  # type: ignore[no-untyped-def]
            return tuple(RuleFile(name, "garbage here;\n") for name in old)

    monkeypatch.setattr(Rendering, "renderer", lambda self, server: Broken())
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1 and "rejected" in r.stderr, r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    assert site.server.get(ua=BYTESPIDER) == 403


def test_failed_reload_restores_and_reloads_again(site: Site) -> None:
    """Reload fails, and so does the reload of the restored files: the previous files are back,
    the one error line says the server may run the new rules, and the journal stays, so the next
    run (reload working again) reloads before it deploys."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    write_config(site.config, site.server.kind, site.server, reload=["false"])
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    errors = [line for line in r.stderr.splitlines() if line]
    assert r.exit_code == 1 and len(errors) == 1 and "reload failed" in errors[0], r.output
    assert "reloading them failed too" in errors[0] and "may still run the new rules" in errors[0], r.output
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == [
        ".botguard-deploy.journal"
    ]
    assert site.server.get(source=BLOCKED_IP) == 200
    write_config(site.config, site.server.kind, site.server)
    r = run_cli(*site.args(site.tmp / "b.json"))
    assert r.exit_code == 0, r.output
    assert "restored the files an interrupted deploy had replaced, updated" in r.stdout, r.output
    assert _leftovers(site.server.rules) == []
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403


@pytest.mark.parametrize("site", ["nginx"], indirect=True)
def test_failed_reload_shows_the_error_not_the_notice(site: Site) -> None:
    """nginx -s reload without its pid file prints "[notice] signal process started" first: the
    one-line reason is its "[error] open() ... nginx.pid failed" line. (No validate step here:
    `nginx -t` would create an empty pid file, and the error would be "invalid PID number".)"""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    write_config(site.config, "nginx", site.server, validate=[])
    pid = site.server.prefix / "logs" / "nginx.pid"
    moved = pid.with_name("nginx.pid.moved")
    pid.rename(moved)
    try:
        r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    finally:
        moved.rename(pid)
    errors = [line for line in r.stderr.splitlines() if line]
    assert r.exit_code == 1 and len(errors) == 1 and "reload failed" in errors[0], r.output
    assert "[error] open()" in errors[0] and "nginx.pid" in errors[0], r.output
    assert "signal process started" not in errors[0], r.output
    # the reload of the restored files failed for the same reason: the journal stays for the next run
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == [
        ".botguard-deploy.journal"
    ]
    assert site.server.get(source=BLOCKED_IP) == 200


def _deploy_child(
    site: Site, scan: Path, hook: str, *, state: Path | None = None, config: Path | None = None
) -> subprocess.Popen[str]:
    """run_deploy in a child process; ``hook`` is the body of its step hook ``hook(step)``."""
    option = "nginx_dir" if site.server.kind == "nginx" else "apache_dir"
    script = "\n".join([
        "import os, time",
        "from datetime import UTC, datetime",
        "from pathlib import Path",
        "from botguard.config import load_settings",
        "from botguard.app import DeployRequest, Env, run_deploy",
        "def hook(step):",
        textwrap.indent(textwrap.dedent(hook).strip(), "    "),
        f"run_deploy(DeployRequest(load_settings({str(config or site.config)!r}), {str(scan)!r},",
        f"    **{{{option!r}: {str(site.server.rules)!r}}}, hook=hook), Env({str(state or site.state)!r}))",
    ])  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _killed_at(site: Site, scan: Path, step: str, *, state: Path | None = None) -> None:
    """A deploy of ``scan`` killed (os._exit, like kill -9: no clean-up runs) at ``step``."""
    child = _deploy_child(site, scan, f"if step == {step!r}: os._exit(137)", state=state)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 137, err
    assert ".botguard-deploy.journal" in _leftovers(site.server.rules)


@pytest.mark.parametrize("step", ["swapped", "validated"])
def test_killed_between_swap_and_reload_leaves_a_valid_config(site: Site, step: str) -> None:
    """kill -9 after the swap: the config on disk is valid, the server keeps serving, the next run finishes."""
    _first_deploy(site)
    scan = site.scan("b", scan_doc(with_ip_block=True))
    _killed_at(site, scan, step)
    assert check(site.server.validate).returncode == 0  # whatever is on disk is a valid config
    assert site.server.get(ua=BYTESPIDER) == 403 and site.server.get(source=BLOCKED_IP) == 200  # not reloaded
    r = run_cli(*site.args(scan))
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403
    assert _leftovers(site.server.rules) == []


def test_killed_after_reload_the_next_run_reloads_what_it_restores(site: Site) -> None:
    """kill -9 after the reload, before the clean-up: the server runs the new rules, the journal
    says to put the old files back. The next run (another state database: its own output equals
    the old files) restores them and reloads although it changes nothing: files and running
    server agree again, checked by requests."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    _killed_at(site, site.scan("b", scan_doc(with_ip_block=True)), "reloaded", state=site.tmp / "killed.db")
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403  # the killed run's rules
    _next_run_reloads_what_it_restored(site, old)


def _server_runs_the_killed_runs_rules(site: Site, files: dict[str, bytes]) -> None:
    """Files hold the first deploy (``files``), the running server still the killed run's rules."""
    assert _snapshot(site.server.rules) == files
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403
    assert ".botguard-deploy.journal" in _leftovers(site.server.rules)


def _next_run_reloads_what_it_restored(site: Site, files: dict[str, bytes]) -> None:
    """A normal run finishes the recovery: it reloads although it changes nothing, then a run
    after it has nothing to do."""
    r = run_cli(*site.args(site.tmp / "a.json"))
    assert r.exit_code == 0, r.output
    assert "restored the files an interrupted deploy had replaced, reloaded" in r.stdout, r.output
    assert _snapshot(site.server.rules) == files and _leftovers(site.server.rules) == []
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 200) == 200
    assert site.server.get(ua=BYTESPIDER) == 403
    r = run_cli(*site.args(site.tmp / "a.json"))
    assert r.exit_code == 0 and "unchanged, not reloaded" in r.stdout, r.output


def test_recovery_whose_reload_fails_leaves_the_journal(site: Site) -> None:
    """A run killed after its reload, then a recovery whose reload fails once: that run exits 1 with
    the reason and says the server may still run other rules; the journal stays, so the next run
    reloads the restored files (checked by requests) instead of calling them unchanged."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    _killed_at(site, site.scan("b", scan_doc(with_ip_block=True)), "reloaded", state=site.tmp / "killed.db")
    write_config(site.config, site.server.kind, site.server, reload=["false"])
    r = run_cli(*site.args(site.tmp / "a.json"))
    errors = [line for line in r.stderr.splitlines() if line]
    assert r.exit_code == 1 and len(errors) == 1, r.output
    assert "reload failed (exit 1): 'false' printed nothing" in errors[0], r.output
    assert "the server may still run the rules that deploy had put in place" in errors[0], r.output
    _server_runs_the_killed_runs_rules(site, old)
    write_config(site.config, site.server.kind, site.server)
    _next_run_reloads_what_it_restored(site, old)


def test_recovery_killed_before_its_reload_leaves_the_journal(site: Site) -> None:
    """A run killed after its reload, then the recovering run killed too (kill -9 of its process
    group during validation, after it put the files back): the next run still reloads them."""
    _first_deploy(site)
    old = _snapshot(site.server.rules)
    _killed_at(site, site.scan("b", scan_doc(with_ip_block=True)), "reloaded", state=site.tmp / "killed.db")
    mark = site.tmp / "validating"
    slow = ["sh", "-c", f'touch {mark}; sleep 60; exec "$@"', "sh", *site.server.validate]
    write_config(site.config, site.server.kind, site.server, validate=slow)
    child = subprocess.Popen([sys.executable, "-m", "botguard", *site.args(site.tmp / "a.json")], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not mark.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    output, _ = child.communicate(timeout=60)
    assert mark.exists() and child.returncode == -signal.SIGKILL, output
    _server_runs_the_killed_runs_rules(site, old)
    write_config(site.config, site.server.kind, site.server)
    _next_run_reloads_what_it_restored(site, old)


def test_runs_with_different_state_on_one_directory_take_turns(site: Site) -> None:
    """Two runs with different --state (and configs) on one rules directory: while the first is
    between swap and reload, the second stops with one line naming the directory's lock and
    changes nothing (no file, no decision); the first finishes and its rules are on disk and live."""
    _first_deploy(site)
    before = _snapshot(site.server.rules)
    ready, go = site.tmp / "ready", site.tmp / "go"
    wait = f"""
        if step == "swapped":
            Path({str(ready)!r}).touch()
            end = time.monotonic() + 60
            while not Path({str(go)!r}).exists() and time.monotonic() < end:
                time.sleep(0.02)
    """
    first = _deploy_child(site, site.scan("b", scan_doc(with_ip_block=True)), wait)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), first.communicate()[1]
        other = site.tmp / "other"
        other.mkdir()
        write_config(other / "botguard.yaml", site.server.kind, site.server)  # its own deploy.lock
        args = site.args(site.tmp / "a.json")
        args[args.index("--config") + 1] = str(other / "botguard.yaml")
        args[args.index("--state") + 1] = str(other / "state.db")
        second = run_cli(*args)
    finally:
        go.touch()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    lines = [line for line in second.stderr.splitlines() if line]
    assert second.exit_code == 1 and len(lines) == 1, second.output
    assert f"holds the lock {site.server.rules.resolve() / DIR_LOCK}" in lines[0], second.output
    with State(other / "state.db") as state:
        assert load_decisions(state) == {}
    after = _snapshot(site.server.rules)
    assert after != before and BLOCKED_IP in "".join(t.decode() for t in after.values())
    assert _leftovers(site.server.rules) == []
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403
    assert site.server.get(ua=BYTESPIDER) == 403


def _many_ips_doc(count: int) -> dict:
    """A scan blocking ``count`` addresses (10.1.x.y: the test servers see them through
    X-Forwarded-For) by IP: rule files of tens of KiB, more than a nearly full filesystem has room for."""
    doc = scan_doc(with_ip_block=False)
    doc["clients"] += [client(f"10.1.{i // 250}.{i % 250 + 1}", CHROME, None, "automated", "block")
                       for i in range(count)]  # fmt: skip
    doc["summary"]["clients"] = len(doc["clients"])
    return doc


def _one_disk_full_line(r: Result, rules: Path) -> int:
    """The run failed with one line naming the directory and the space it needs: that many KiB."""
    lines = [line for line in r.stderr.splitlines() if line]
    assert r.exit_code == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.output
    assert f"No space left on device in {rules}" in lines[0] and "nothing was changed" in lines[0], r.output
    needed = re.search(r"needs (\d+) KiB free there, (\d+) KiB available", lines[0])
    assert needed is not None, r.output
    return int(needed[1])


def test_disk_full_while_staging_changes_nothing(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC in the middle of writing a new file (injected at the write: always runs): one line
    with the directory and the space needed, no staged file left, live files and rules as they were;
    the next run with room deploys."""
    from botguard.deploy import files

    _first_deploy(site)
    old = _snapshot(site.server.rules)
    write = files._write

    def full(path: Path, data: bytes, secret: bool = False) -> None:
        if path.name.endswith(".botguard-new"):
            write(path, data[: len(data) // 2], secret)  # what a filling disk leaves: part of the file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write(path, data, secret)

    monkeypatch.setattr(files, "_write", full)
    scan = site.scan("many", _many_ips_doc(600))
    r = run_cli(*site.args(scan))
    needed = _one_disk_full_line(r, site.server.rules)
    assert needed * 1024 > sum(len(t) for t in old.values()) + 600 * len("10.1.0.1")
    assert _snapshot(site.server.rules) == old and _leftovers(site.server.rules) == []
    assert site.server.get(source="10.1.0.7") == 200 and site.server.get(ua=BYTESPIDER) == 403
    monkeypatch.setattr(files, "_write", write)
    r = run_cli(*site.args(scan))
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: site.server.get(source="10.1.0.7"), 403) == 403


@contextmanager
def _small_filesystem(directory: Path, size: str) -> Iterator[None]:
    """A tmpfs of ``size`` mounted over ``directory``, its files copied in; unmounted afterwards."""
    files = {p.name: p.read_bytes() for p in directory.iterdir()}
    mount = shutil.which("mount")
    done = subprocess.run(
        [mount or "mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "botguard-test", str(directory)],
        capture_output=True, text=True, check=False,
    ) if mount and os.geteuid() == 0 else None  # fmt: skip
    if done is None or done.returncode != 0:
        reason = done.stderr.strip() if done is not None else "needs root and mount(8)"
        pytest.skip(f"cannot mount a small filesystem here ({reason}): test_disk_full_while_staging_changes_nothing "
                    "covers this with an injected ENOSPC")  # fmt: skip
    try:
        for name, data in files.items():
            (directory / name).write_bytes(data)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True, capture_output=True)


def _fill(directory: Path) -> Path:
    """A file that takes every free byte of ``directory``'s filesystem."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_disk_full_on_a_small_filesystem(site: Site) -> None:
    """The rules directory on a real, nearly full 1 MiB tmpfs: the deploy fails with one line naming
    the directory and the space it needs, leaves nothing behind and the live files and rules as
    they were; with exactly that much space freed, the same deploy goes through."""
    _first_deploy(site)
    rules = site.server.rules
    with _small_filesystem(rules, "1m"):
        old = _snapshot(rules)
        filler = _fill(rules)
        full = filler.stat().st_size
        os.truncate(filler, full - 8192)  # room for the backups, not for the new files
        scan = site.scan("many", _many_ips_doc(1500))
        r = run_cli(*site.args(scan))
        needed = _one_disk_full_line(r, rules)
        assert {k: v for k, v in _snapshot(rules).items() if k != "filler"} == old
        assert _leftovers(rules) == []
        assert site.server.get(source="10.1.0.7") == 200 and site.server.get(ua=BYTESPIDER) == 403
        os.truncate(filler, full - needed * 1024)
        r = run_cli(*site.args(scan))
        assert r.exit_code == 0, r.output
        assert site.eventually(lambda: site.server.get(source="10.1.0.7"), 403) == 403
        assert _leftovers(rules) == []


def test_concurrent_run_is_refused_by_the_lock(site: Site) -> None:
    """While another run holds the lock, deploy-rules exits 1 and changes nothing."""
    before = _snapshot(site.server.rules)
    with deploy_lock(site.tmp / "deploy.lock"):
        r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 1 and "lock" in r.stderr, r.output
    assert _snapshot(site.server.rules) == before


def _config_without_lock(path: Path, server: Server) -> Path:
    """A config for ``server`` that leaves the run lock to its default (beside the state database)."""
    write_config(path, server.kind, server)
    conf = yaml.safe_load(path.read_text())
    del conf["deploy"]["lock"]
    path.write_text(yaml.safe_dump(conf))
    return path


def _dump(state: Path) -> list[str]:
    with State(state) as db:
        return list(db.conn.iterdump())


@pytest.mark.parametrize("site", ["nginx"], indirect=True)
def test_two_state_databases_in_one_directory_deploy_at_once(site: Site) -> None:
    """Two sites whose state databases share a directory (site1.db, site2.db), each deploying to
    its own server: while the first run is between swap and reload, the second deploys too (each
    database has its own lock, ``<state>.deploy.lock``); both sites end with the new rules live."""
    states = site.tmp / "states"
    states.mkdir()
    scan = site.scan("b", scan_doc(with_ip_block=True))
    files = {f.name: f.text for f in NginxRenderer().render(DecisionSet())}
    ready, go = site.tmp / "ready", site.tmp / "go"
    wait = f"""
        if step == "swapped":
            Path({str(ready)!r}).touch()
            end = time.monotonic() + 60
            while not Path({str(go)!r}).exists() and time.monotonic() < end:
                time.sleep(0.02)
    """
    with running("nginx", files) as other:
        config1 = _config_without_lock(site.tmp / "site1.yaml", site.server)
        config2 = _config_without_lock(site.tmp / "site2.yaml", other)
        first = _deploy_child(site, scan, wait, state=states / "site1.db", config=config1)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert ready.exists(), first.communicate()[1]
            second = run_cli("deploy-rules", "--from", str(scan), "--nginx-dir", str(other.rules),
                             "--config", str(config2), "--state", str(states / "site2.db"))  # fmt: skip
        finally:
            go.touch()
            _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        assert second.exit_code == 0 and "reloaded" in second.stdout, second.output
        assert site.eventually(lambda: other.get(source=BLOCKED_IP), 403) == 403
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403
    assert sorted(p.name for p in states.glob("*.lock")) == ["site1.db.deploy.lock", "site2.db.deploy.lock"]


@pytest.mark.parametrize("site", ["nginx"], indirect=True)
def test_state_lock_is_named_after_the_state_with_an_absolute_path(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a relative --state, a run refused by the state's lock names that lock's absolute path."""
    _config_without_lock(site.config, site.server)
    monkeypatch.chdir(site.tmp)
    args = site.args(site.scan("b", scan_doc(with_ip_block=True)))
    args[args.index("--state") + 1] = "site1.db"
    before = _snapshot(site.server.rules)
    with deploy_lock(site.tmp / "site1.db.deploy.lock"):
        r = run_cli(*args)
    lines = [line for line in r.stderr.splitlines() if line]
    assert r.exit_code == 1 and len(lines) == 1, r.output
    assert f"holds the lock {site.tmp / 'site1.db.deploy.lock'};" in lines[0], r.output
    assert _snapshot(site.server.rules) == before
    assert run_cli(*args).exit_code == 0


def test_dry_run_takes_no_lock_and_records_nothing(site: Site) -> None:
    """--dry-run while another run holds the state's and the directory's locks: it prints the diff
    and exits 0, and the state database holds exactly what it held before."""
    _first_deploy(site)
    before = _dump(site.state)
    with deploy_lock(site.tmp / "deploy.lock"), deploy_lock(site.server.rules.resolve() / DIR_LOCK):
        r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True)), "--dry-run"))
    assert r.exit_code == 0, r.output
    assert "+++ " in r.stdout and "lock" not in r.stderr, r.output
    assert _dump(site.state) == before


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
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 200) == 200


def test_health_probe_success(site: Site) -> None:
    """A probe of the site's robots.txt passes and the deploy completes."""
    conf = yaml.safe_load(site.config.read_text())
    conf["deploy"][site.server.kind]["probe"] = f"http://127.0.0.1:{site.server.port}/robots.txt"
    site.config.write_text(yaml.safe_dump(conf))
    r = run_cli(*site.args(site.scan("b", scan_doc(with_ip_block=True))))
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: site.server.get(source=BLOCKED_IP), 403) == 403


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


def test_common_log_scan_then_deploy(site: Site, tmp_path: Path) -> None:
    """A log that records no agents (the example in common format) scanned into state, then
    deploy-rules: its blocked clients are refused by address (there is no agent to name), the
    addresses it allows are served."""
    import json

    lines = (ROOT / "examples/access.log").read_text(encoding="utf-8").splitlines()
    log = tmp_path / "common.log"
    log.write_text("".join(re.sub(r' "[^"]*" "[^"]*"$', "", line) + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "scan.json"
    r = run_cli("scan", str(log), "--robots", str(ROOT / "examples/robots.txt"), "--config", str(ROOT / "examples/botguard.yaml"),
                "--state", str(site.state), "--no-dns", "--format", "json", "-o", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    args = site.args(out)
    r = run_cli(*args[:1], *args[3:])  # no --from: the scan stored in the state database
    assert r.exit_code == 0, r.output
    clients = json.loads(out.read_text())["clients"]
    blocked = [c["ip"] for c in clients if c["verdict"] == "block"]
    allowed = [c["ip"] for c in clients if c["verdict"] == "allow"][:30]
    assert blocked and allowed
    assert site.eventually(lambda: site.server.get(source=blocked[0]), 403) == 403
    assert [ip for ip in blocked if site.server.get(source=ip) != 403] == []
    assert [ip for ip in allowed if site.server.get(source=ip) != 200] == []
