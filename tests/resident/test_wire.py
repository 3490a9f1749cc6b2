"""The request's bytes, the code fingerprint and the start-up comparison, without a server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from botguard.resident import Start, mismatch
from botguard.resident._wire import code_fingerprint, encode_request, import_time_environment, process_context
from botguard.resident.records import Request
from botguard.resident.server import WARM_MODULES

ROOT = Path(__file__).resolve().parents[2]


def request_bytes(argv: list[str], environ: dict[bytes, bytes]) -> bytes:
    return encode_request(b"code", process_context(), argv, environ)


def test_a_request_reads_back_as_it_was_sent() -> None:
    env = {b"A": b"1", b"EMPTY": b"", b"EQ": b"a=b=c", b"RAW": b"\xff\xfe"}
    argv = ["botguard", "scan", "-", "--robots", "r\xe9.txt", "", os.fsdecode(b"\xff.log")]
    request = Request.decode(request_bytes(argv, env))
    assert request.argv == tuple(argv)
    assert request.environ == {"A": "1", "EMPTY": "", "EQ": "a=b=c", "RAW": os.fsdecode(b"\xff\xfe")}
    assert request.code == b"code"
    assert (
        request.privileges.startswith(b"Uid:")
        and b";CapEff:" in request.privileges
        and b"mnt:[" in request.namespaces
    )
    umask = os.umask(0)
    os.umask(umask)
    assert request.umask == umask
    assert request.cpus == tuple(sorted(os.sched_getaffinity(0)))


def corrupted(index: int, value: bytes) -> bytes:
    """A valid request (botguard scan -) with field ``index`` replaced."""
    fields = request_bytes(["botguard", "scan", "-"], {b"A": b"1"}).split(b"\0")
    fields[index] = value
    return b"\0".join(fields)


ARGC = 9  # magic, code, 7 context fields, then the argument count


@pytest.mark.parametrize(
    "data",
    [b"", b"botguard-resident/2\0a", corrupted(0, b"botguard-resident/2"), corrupted(ARGC, b"9"),
     corrupted(ARGC, b"0"), corrupted(ARGC, b"x"), corrupted(6, b"1:2,3"), corrupted(3, b"0,x"), corrupted(2, b"9")],
    ids=["empty", "other-protocol", "other-magic", "argc-past-the-end", "no-argv", "argc-not-a-number",
         "limits-short", "groups-not-numbers", "umask-not-octal"],
)  # fmt: skip
def test_a_malformed_request_is_refused_whole(data: bytes) -> None:
    with pytest.raises(ValueError):
        Request.decode(data)


def test_the_corruption_helper_leaves_a_valid_request_valid() -> None:
    assert Request.decode(corrupted(ARGC, b"3")).argv == ("botguard", "scan", "-")


def test_an_environment_entry_without_a_value_is_refused() -> None:
    data = request_bytes(["botguard", "scan"], {b"A": b"1"}) + b"\0NOEQUALS"
    with pytest.raises(ValueError):
        Request.decode(data)


def test_the_fingerprint_changes_with_any_file_and_not_with_bytecode(tmp_path: Path) -> None:
    package = tmp_path / "botguard"
    (package / "sub").mkdir(parents=True)
    module = package / "sub" / "mod.py"
    module.write_text("x = 1\n")
    first = code_fingerprint(str(package))
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (package / "sub" / "stray.pyc").write_bytes(b"\0")
    assert code_fingerprint(str(package)) == first
    stat = module.stat()
    module.write_text("x = 2\n")  # same size, edited in place
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert code_fingerprint(str(package)) != first
    module.write_text("x = 1\n")
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert code_fingerprint(str(package)) == first
    (package / "rules.yaml").write_text("a: 1\n")  # data files count too
    assert code_fingerprint(str(package)) != first


def test_the_variables_read_at_start_up_are_those_compared() -> None:
    env = {"LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC", "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1",
           "_RJEM_MALLOC_CONF": "x", "POLARS_MAX_THREADS": "2", "LD_PRELOAD": "x", "HOME": "/root",
           "XDG_CACHE_HOME": "/c", "PATH": "/bin", "BOTGUARD_NO_DAEMON": "1"}  # fmt: skip
    assert set(import_time_environment(env)) == set(env) - {
        "HOME",
        "XDG_CACHE_HOME",
        "PATH",
        "BOTGUARD_NO_DAEMON",
    }


def start(**changes: object) -> Start:
    base = Start(code=b"c", environment={"LANG": "C"}, groups=(0,), cpus=(0, 1), nice=0, limits=((10, 20), (-1, -1)),
                 privileges=b"CapEff: 1", namespaces=b"mnt:[1]")  # fmt: skip
    fields = {name: getattr(base, name) for name in Start.__slots__}
    return Start(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("client", "why"),
    [
        (start(), None),
        (start(code=b"d"), "code"),
        (start(namespaces=b"mnt:[2]"), "namespaces"),
        (start(privileges=b"CapEff: 0"), "privileges"),
        (start(environment={"LANG": "C", "TZ": "UTC"}), "environment"),
        (start(environment={}), "environment"),
        (start(groups=(0, 4)), "groups"),
        (start(cpus=(0,)), "cpus"),
        (start(nice=5), None),  # lower priority: the child takes it
        (start(nice=-1), "priority"),
        (start(limits=((5, 15), (100, 200))), None),  # lower limits: the child takes them
        (start(limits=((10, 21), (-1, -1))), "limits"),
        (start(limits=((10, -1), (-1, -1))), "limits"),
    ],
)
def test_a_client_is_served_only_when_its_start_matches(client: Start, why: str | None) -> None:
    assert mismatch(client, start()) == why


# Imports what the server warms, then runs a scan with the model in this process: what the scan
# still imports a served child would import on every command.
WARM_PROBE = """
import sys
from botguard.loading import tune_libraries
tune_libraries()
from botguard.resident.server import warm
warm()
before = set(sys.modules)
from botguard.cli import main
code = main(["scan", sys.argv[1], "--robots", sys.argv[2], "--no-dns", "--no-save", "--format", "json", "-o", sys.argv[3]])
late = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("botguard", "numpy", "polars"))
print(code, late)
"""


def test_the_server_warms_every_module_a_scan_imports(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join((ROOT / "examples" / "access.log").read_bytes().splitlines(keepends=True)[:300]))
    done = subprocess.run([sys.executable, "-c", WARM_PROBE, str(log), str(ROOT / "examples" / "robots.txt"),
                           str(tmp_path / "out.json")], capture_output=True, text=True, cwd=ROOT, check=True)  # fmt: skip
    assert done.stdout.strip() == "0 []", (done.stdout, WARM_MODULES)


def test_a_kept_catalogue_is_used_only_for_the_bytes_it_was_loaded_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botguard.catalog import keep_bundled_catalog, load_catalog, loader

    monkeypatch.setattr(loader, "_KEPT", {})
    keep_bundled_catalog()
    (key,) = loader._KEPT
    kept = loader._KEPT[key]
    assert load_catalog() is kept
    assert kept._matcher is not None  # built in the server: a child's classification skips it
    monkeypatch.setattr(loader, "_KEPT", {"another-key": kept})  # the file or its reader changed since
    assert load_catalog() is not kept
