"""A fresh machine: `make test` says in one line which system packages are missing, CI installs
them, the benchmarks say what they lack, the packaging metadata builds without deprecations,
and the bundled test data is attributed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers import TEST_DATA

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "/usr/bin/make"


def listed_programs() -> tuple[str, ...]:
    """The commands tools/system-packages looks for: the list itself, so a program added there
    is stubbed here too (a hard-coded copy went stale and failed on a machine without it)."""
    text = (ROOT / "tools" / "system-packages").read_text()
    listing = text.split("PACKAGES='", 1)[1].split("'", 1)[0]
    return tuple(line.split()[0] for line in listing.splitlines() if line.strip())


PROGRAMS = listed_programs()


def stub_dir(tmp_path: Path, *names: str, links: tuple[str, ...] = ()) -> Path:
    """A PATH directory with do-nothing programs ``names`` and real ``links`` (e.g. bash)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    for name in links:
        (bin_dir / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    return bin_dir


def make(target: str, path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
        env={"PATH": str(path), "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_make_test_names_what_is_missing_in_one_line(tmp_path: Path) -> None:
    """Without wrk and chromium: one line with the apt-get command, non-zero, nothing built or run."""
    present = [name for name in PROGRAMS if name not in ("wrk", "chromium")]
    assert len(present) == len(PROGRAMS) - 2
    done = make("test", stub_dir(tmp_path, *present), tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "missing: wrk chromium; install them with: sudo apt-get install -y wrk chromium" in done.stderr
    assert not (tmp_path / "venv").exists()  # failed before the virtualenv, let alone pytest


def test_make_check_is_silent_when_everything_is_there(tmp_path: Path) -> None:
    done = make("system-packages", stub_dir(tmp_path, *PROGRAMS), tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_ci_installs_the_missing_programs_then_runs_make_test(tmp_path: Path) -> None:
    """.ci/run where goaccess, wrk and chromium are missing: apt-get installs exactly what the
    check reports (nginx and apache2 too on a machine without them), make installs the rest, then
    `make lint` runs before `make test`."""
    log = tmp_path / "calls.log"
    bin_dir = stub_dir(tmp_path, links=("bash", "dirname", "python3"))
    for name in ("apt-get", "make"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        (bin_dir / name).chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    missing = subprocess.run([str(ROOT / "tools" / "system-packages"), "missing"], env=env, capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
    assert {"goaccess", "wrk", "chromium"} <= set(missing)
    done = subprocess.run(
        [str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    update, install, *made = log.read_text().splitlines()
    assert update == "apt-get update -qq"
    assert made == ["make system-packages .venv/.test-installed", "make lint", "make test"]
    packages = install.removeprefix("apt-get install -y -qq ").split()
    assert set(missing) <= set(packages) <= {*missing, "make", "python3-venv", "python3-dev"}  # + bootstrap


def test_bench_deploy_without_wrk_says_how_to_get_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_deploy.py"), "--ua", "10", "--ip", "10"],
        env={"PATH": str(stub_dir(tmp_path, "nginx"))}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "bench_deploy: wrk not found on PATH; install it (apt-get install wrk)\n"


def test_licence_is_an_spdx_expression() -> None:
    """setuptools >= 77 deprecates the `license = {text = ...}` table (a warning on every build)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert re.fullmatch(r"setuptools>=(\d+)", setuptools) and int(setuptools.split(">=")[1]) >= 77


def test_every_bundled_data_file_is_attributed_and_none_is_gpl() -> None:
    sources = (TEST_DATA / "SOURCES.md").read_text(encoding="utf-8")
    rows = [line for line in sources.splitlines() if line.startswith("| `")]
    assert rows and not any("GPL" in row for row in rows)
    for path in TEST_DATA.rglob("*"):
        if path.is_file() and path.name != "SOURCES.md":
            folder = path.parent.relative_to(TEST_DATA).as_posix()
            assert any(folder in row and (path.stem in row or "<" in row) for row in rows), path


def test_every_kernel_is_declared_and_built() -> None:
    """Each C source under botguard/ is a kernel botguard.native lists (setup.py builds what it
    lists), compiled into the test venv and imported through botguard.native: the kernels are
    optional for a user without a compiler, so CI proves here that they run (their tests
    compare them with their pure twins) instead of silently falling back."""
    from botguard import native

    sources = {
        p.relative_to(ROOT / "botguard").with_suffix("").as_posix() for p in (ROOT / "botguard").rglob("*.c")
    }
    assert {name.replace(".", "/") for name in native.KERNELS} == sources
    missing = [name for name in native.KERNELS if native.kernel(name) is None]
    assert not missing, f"not compiled: {missing}: install gcc and python3-dev, then `make` again"
