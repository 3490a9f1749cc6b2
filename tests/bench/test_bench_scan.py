"""The scan benchmark's harness: per-child timing and memory, log caching, truth check, reporting.

These run on tiny logs with a stand-in botguard, so they test the harness, not botguard's speed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """bench/bench_scan.py imported from its path (it imports gen_logs from bench/ itself)."""
    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "bench" / "bench_scan.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scan"] = module
    spec.loader.exec_module(module)
    return module


def fake_botguard(tmp_path: Path, summary_from_truth: bool = True) -> str:
    """A stand-in `botguard` that writes a JSON summary: the truth's counts, or wrong ones."""
    script = tmp_path / "fake_botguard.py"
    script.write_text(
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "log, out = args[1], args[args.index('--output') + 1]\n"
        "truth = json.load(open(log + '.truth.json'))\n"
        f"keys = ('lines', 'parsed', 'malformed') if {summary_from_truth} else ()\n"
        "summary = {k: truth[k] for k in keys}\n"
        "json.dump({'summary': summary, 'clients': [], 'crawlers': []}, open(out, 'w'))\n"
    )
    return f"{sys.executable} {script}"


_MEASURE = """
import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("bench_scan", sys.argv[1])
bench = importlib.util.module_from_spec(spec); sys.modules["bench_scan"] = bench; spec.loader.exec_module(bench)
work = Path(sys.argv[2])
big = bench.run_child([sys.executable, "-c", "b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096])"], work)
small = bench.run_child([sys.executable, "-c", "pass"], work)
print(json.dumps([big.peak_rss_mib, small.peak_rss_mib, big.returncode, small.returncode, big.seconds]))
"""


def test_run_child_reports_this_childs_peak_memory(tmp_path: Path) -> None:
    """A child that touches 120 MiB is reported above 120 MiB, a trivial one far below.

    Measured from a small parent process, as the bench script runs: a forked child's peak also
    counts the parent pages it shared before exec, so under a large pytest process even
    `python -c pass` would peak at the size of pytest.
    """
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(ROOT / "bench" / "bench_scan.py"), str(tmp_path)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    big, small, big_rc, small_rc, seconds = json.loads(done.stdout.splitlines()[-1])
    assert big_rc == small_rc == 0
    assert big > 120
    assert small < 60
    assert seconds > 0


def test_run_child_keeps_the_stderr_of_a_failure(bench: ModuleType, tmp_path: Path) -> None:
    """A failing child's exit code and stderr reach the report."""
    run = bench.run_child([sys.executable, "-c", "import sys; sys.exit('scan exploded')"], tmp_path)
    assert run.returncode == 1
    assert "scan exploded" in run.stderr_tail


def test_logs_are_generated_once_and_reused(bench: ModuleType, tmp_path: Path) -> None:
    """The cached log is keyed by size, seed and generator digest, and reused on the next call."""
    log, robots, truth = bench.ensure_log(tmp_path, 500, 1)
    assert bench.generator_digest() in log.name and "500-s1" in log.name
    assert truth["lines"] == 500 and robots.read_text().startswith("# robots.txt")
    mtime = log.stat().st_mtime_ns
    again, _, _ = bench.ensure_log(tmp_path, 500, 1)
    assert again == log and log.stat().st_mtime_ns == mtime


def test_stale_generator_output_is_replaced(bench: ModuleType, tmp_path: Path) -> None:
    """A log from an older generator (other digest) is deleted when the new one is written."""
    stale = tmp_path / "access-300-s1-0000000000.log"
    stale.write_text("old\n")
    bench.ensure_log(tmp_path, 300, 1)
    assert not stale.exists()


def test_truth_check_catches_a_wrong_summary(bench: ModuleType, tmp_path: Path) -> None:
    """A summary whose counts differ from the truth is a failure naming the field; a right one passes."""
    truth = {"lines": 10, "parsed": 9, "malformed": 1}
    check = bench.truth_check(truth)
    (tmp_path / "out.json").write_text(json.dumps({"summary": {"lines": 10, "parsed": 10, "malformed": 0}}))
    assert "parsed" in check(tmp_path) and "malformed" in check(tmp_path)
    (tmp_path / "out.json").write_text(json.dumps({"summary": truth}))
    assert check(tmp_path) is None
    (tmp_path / "out.json").write_text("not json")
    assert "no usable JSON summary" in check(tmp_path)


def test_full_run_with_a_stand_in_botguard(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """End to end on a tiny log: the table lists botguard with lines/s and memory; exit 0."""
    code = bench.main(
        [
            "--sizes",
            "400",
            "--skip-goaccess",
            "--out-dir",
            str(tmp_path / "out"),
            "--botguard",
            fake_botguard(tmp_path),
            "--repeat",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "botguard" in out and "400" in out


def test_wrong_scan_output_fails_the_bench(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A botguard whose summary disagrees with the truth makes the bench fail, with the reason on stderr."""
    code = bench.main(
        [
            "--sizes",
            "400",
            "--skip-goaccess",
            "--out-dir",
            str(tmp_path / "out"),
            "--botguard",
            fake_botguard(tmp_path, summary_from_truth=False),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "summary disagrees with the truth sidecar" in captured.err


def test_missing_goaccess_is_a_clear_usage_error(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Without goaccess on PATH the bench says how to install it or skip it, and exits 2."""
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    assert bench.main(["--sizes", "10"]) == 2
    assert "apt-get install goaccess" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("goaccess") is None, reason="goaccess not installed")
def test_goaccess_baseline_is_timed(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """GoAccess runs on the generated log and gets a row; the ratio column appears for botguard."""
    code = bench.main(
        ["--sizes", "2000", "--out-dir", str(tmp_path / "out"), "--botguard", fake_botguard(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("2,000")]
    assert [r[1] for r in rows] == ["goaccess", "botguard"]
    assert float(rows[1][-1]) > 0  # botguard/goaccess ratio


@pytest.mark.parametrize("args", [["--sizes", "x"], ["--sizes", "0"], ["--repeat", "0"]])
def test_bad_options_exit_2(bench: ModuleType, args: list[str]) -> None:
    """Unusable --sizes / --repeat are usage errors."""
    with pytest.raises(SystemExit) as exc:
        bench.main(args)
    assert exc.value.code == 2


def test_floor_times_start_up_and_parse_alone(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--floor times a scan of the log's first 100 lines and botguard's parse of the whole log,
    each as its own child; the 100-line log really holds 100 lines of the generated one."""
    seen = tmp_path / "seen.txt"
    stand_in = f'{sys.executable} -c "import shutil, sys; shutil.copy(sys.argv[2], {str(seen)!r})"'
    code = bench.main(
        [
            "--sizes",
            "400",
            "--skip-goaccess",
            "--skip-botguard",
            "--floor",
            "--out-dir",
            str(tmp_path / "out"),
            "--botguard",
            stand_in,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    floors = [line for line in out.splitlines() if line.startswith("floor on 400 lines")]
    assert len(floors) == 2 and "start-up" in floors[0] and "parse only" in floors[1]
    assert all(float(line.rsplit(": ", 1)[1].split(" s")[0]) > 0 for line in floors)
    head = seen.read_text().splitlines()
    log = next((tmp_path / "out").glob("access-400-*.log")).read_text().splitlines()
    assert head == log[:100]
