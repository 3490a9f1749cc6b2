"""The benchmark log generator is a spec of its own: deterministic, exact, and truthful.

Scan results are checked against the generator's truth sidecar, so these tests re-derive that
truth from the written lines (independently of the generator's bookkeeping) and compare.
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import re
import shlex
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
GEN_PATH = ROOT / "bench" / "gen_logs.py"
EXAMPLES = ROOT / "examples"

#: Combined log format, written here independently of the generator's own regex.
COMBINED = re.compile(
    rb"^(?P<ip>[0-9a-fA-F:.]+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    rb'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+) '
    rb'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"$'
)
STAR_RULES = (
    ("/cart", False),
    ("/search?", False),
    ("/internal/", False),
    ("/api/", False),
    ("/api/public", True),
)
ROOT_GROUP = ("Bytespider", "GPTBot", "CCBot")


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    """bench/gen_logs.py imported from its path (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("gen_logs", GEN_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_logs"] = module
    spec.loader.exec_module(module)
    return module


def run_gen(gen: ModuleType, out: Path, *args: str) -> dict:
    """Run the generator CLI in-process; return its truth sidecar."""
    assert gen.main(["--out", str(out), *args]) == 0
    return json.loads(Path(f"{out}.truth.json").read_text())


@pytest.fixture(scope="module")
def small(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A 20k-line log over 2 days with 0.1% malformed lines, its robots.txt and its truth."""
    tmp = tmp_path_factory.mktemp("gen")
    log, robots = tmp / "access.log", tmp / "robots.txt"
    truth = run_gen(
        gen,
        log,
        "--lines",
        "20000",
        "--seed",
        "7",
        "--days",
        "2",
        "--malformed-rate",
        "0.001",
        "--robots-out",
        str(robots),
    )
    return log, robots, truth


def parsed_lines(log: Path) -> tuple[list[re.Match[bytes]], list[bytes]]:
    """(well-formed matches, non-matching lines) of a generated log."""
    good, bad = [], []
    for line in log.read_bytes().split(b"\n")[:-1]:
        m = COMBINED.match(line)
        (good.append(m) if m else bad.append(line))
    return good, bad


def star_disallowed(target: str) -> bool:
    """Longest-prefix match over the `*` group, Allow winning ties."""
    hits = [(len(p), allow) for p, allow in STAR_RULES if target.startswith(p)]
    return bool(hits) and not max(hits)[1]


def target_of(request: str) -> str | None:
    parts = request.split(" ")
    return parts[1] if len(parts) == 3 else None


def test_same_seed_same_bytes_other_seed_other_bytes(gen: ModuleType, tmp_path: Path) -> None:
    """A seed fully determines the log and its truth; another seed gives another log."""
    a, b, c = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"
    ta = run_gen(gen, a, "--lines", "3000", "--seed", "5")
    tb = run_gen(gen, b, "--lines", "3000", "--seed", "5")
    run_gen(gen, c, "--lines", "3000", "--seed", "6")
    assert a.read_bytes() == b.read_bytes()
    assert ta == tb
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("lines", [1, 17, 4097, 12_345])
def test_writes_exactly_the_requested_number_of_lines(gen: ModuleType, tmp_path: Path, lines: int) -> None:
    """--lines N writes N newline-terminated lines, chunk boundaries included."""
    truth = run_gen(gen, tmp_path / "x.log", "--lines", str(lines), "--malformed-rate", "0.001")
    data = (tmp_path / "x.log").read_bytes()
    assert data.count(b"\n") == lines == truth["lines"]
    assert data.endswith(b"\n")
    assert truth["parsed"] + truth["malformed"] == lines


def test_malformed_lines_are_exactly_the_non_matching_ones(small: tuple[Path, Path, dict]) -> None:
    """Every line but the announced malformed ones matches the combined format, and vice versa."""
    log, _, truth = small
    good, bad = parsed_lines(log)
    assert truth["malformed"] == round(20000 * 0.001) == len(bad)
    assert len(good) == truth["parsed"]
    assert sum(truth["malformed_by_kind"].values()) == truth["malformed"]


def test_truth_counts_match_the_lines(small: tuple[Path, Path, dict]) -> None:
    """Per-client requests, robots.txt fetches, honeypot hits and invalid requests re-derived from
    the log equal the sidecar's; humans are whatever the listed clients leave."""
    log, _, truth = small
    good, _ = parsed_lines(log)
    seen: dict[tuple[str, str], Counter[str]] = {}
    for m in good:
        key = (m["ip"].decode(), m["ua"].decode() if m["ua"] != b"-" else "")
        c = seen.setdefault(key, Counter())
        request = m["request"].decode("utf-8", "surrogateescape")
        target = target_of(request)
        c["requests"] += 1
        c["robots_fetches"] += target == "/robots.txt"
        c["honeypot_requests"] += bool(target and target.startswith(truth["trap_path"]))
        c["invalid_requests"] += target is None
    listed = 0
    for client in truth["clients"]:
        got = seen.pop((client["ip"], client["user_agent"]))
        for key in ("requests", "robots_fetches", "honeypot_requests", "invalid_requests"):
            assert got[key] == client[key], (client, key)
        listed += client["requests"]
    humans = truth["classes"]["human"]
    assert sum(c["requests"] for c in seen.values()) == humans["requests"] == truth["parsed"] - listed
    assert len(seen) == humans["clients"]
    assert sum(v["requests"] for v in truth["classes"].values()) == truth["parsed"]
    assert sum(v["requests"] for v in truth["groups"].values()) == truth["parsed"]


def test_disallowed_counts_follow_the_robots_groups(small: tuple[Path, Path, dict]) -> None:
    """`disallowed_requests` matches an independent judgement: Disallow: / for Bytespider/GPTBot/
    CCBot, the `*` rules (repeated in the SEO group) for everyone else."""
    log, _, truth = small
    good, _ = parsed_lines(log)
    clients = {(c["ip"], c["user_agent"]): c for c in truth["clients"]}
    got: Counter[tuple[str, str]] = Counter()
    for m in good:
        key = (m["ip"].decode(), m["ua"].decode() if m["ua"] != b"-" else "")
        target = target_of(m["request"].decode("utf-8", "surrogateescape"))
        if key not in clients or target is None or target == "/robots.txt":
            continue
        shut_out = any(token in key[1] for token in ROOT_GROUP)
        got[key] += shut_out or star_disallowed(target)
    for key, client in clients.items():
        assert got[key] == client["disallowed_requests"], client


def test_every_client_class_shows_up(small: tuple[Path, Path, dict]) -> None:
    """Even a small log holds every class, with the behaviour that defines it."""
    _, _, truth = small
    classes = truth["classes"]
    assert all(v["requests"] > 0 and v["clients"] > 0 for v in classes.values()), classes
    assert classes["ai_violator"]["disallowed_requests"] > 0.9 * classes["ai_violator"]["requests"]
    assert classes["honeypot"]["honeypot_requests"] > 0
    assert classes["disguised_scraper"]["robots_fetches"] == 0
    assert classes["scanner"]["invalid_requests"] > 0
    for name in ("search_bot", "ai_compliant", "seo_bot", "crawl_delay_violator"):
        assert classes[name]["disallowed_requests"] == 0, name
    shares = {k: v["requests"] / truth["parsed"] for k, v in classes.items()}
    assert 0.45 < shares["human"] < 0.65


def test_obedient_crawlers_read_robots_txt_first(small: tuple[Path, Path, dict]) -> None:
    """Search, AI and SEO crawlers that obey start with /robots.txt; disguised scrapers never fetch it."""
    _, _, truth = small
    for client in truth["clients"]:
        if client["class"] in ("search_bot", "ai_compliant", "seo_bot", "crawl_delay_violator"):
            assert client["robots_fetched_first"] is True, client
        if client["class"] == "disguised_scraper":
            assert client["robots_fetches"] == 0, client


def test_seo_bots_honour_crawl_delay_and_violators_do_not(small: tuple[Path, Path, dict]) -> None:
    """Consecutive requests of AhrefsBot/SemrushBot are >= 10 s apart; MJ12bot/DotBot's are not."""
    log, _, truth = small
    good, _ = parsed_lines(log)
    cls = {(c["ip"], c["user_agent"]): c["class"] for c in truth["clients"]}
    times: dict[tuple[str, str], list[datetime]] = {}
    for m in good:
        key = (m["ip"].decode(), m["ua"].decode())
        if cls.get(key) in ("seo_bot", "crawl_delay_violator"):
            times.setdefault(key, []).append(datetime.strptime(m["time"].decode(), "%d/%b/%Y:%H:%M:%S %z"))
    gaps: dict[str, list[timedelta]] = {"seo_bot": [], "crawl_delay_violator": []}
    for key, ts in times.items():
        gaps[cls[key]] += [b - a for a, b in itertools.pairwise(ts)]
    assert gaps["seo_bot"] and min(gaps["seo_bot"]) >= timedelta(seconds=10)
    assert gaps["crawl_delay_violator"] and min(gaps["crawl_delay_violator"]) < timedelta(seconds=10)


def test_timestamps_rise_within_the_span_in_one_timezone(small: tuple[Path, Path, dict]) -> None:
    """Times never go backwards, stay in the requested span (plus a last burst), all at +0100."""
    log, _, truth = small
    good, _ = parsed_lines(log)
    times = [datetime.strptime(m["time"].decode(), "%d/%b/%Y:%H:%M:%S %z") for m in good]
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert {m["time"][-5:] for m in good} == {b"+0100"}
    assert times[0] == datetime.fromisoformat(truth["first_seen"])
    assert times[-1] == datetime.fromisoformat(truth["last_seen"])
    assert times[-1] - times[0] < timedelta(days=2, hours=1)
    assert times[-1] - times[0] > timedelta(days=1, hours=20)


def test_log_has_ipv6_query_strings_and_junk(small: tuple[Path, Path, dict]) -> None:
    """The mix includes IPv6 clients, query strings, TLS handshakes and empty requests."""
    log, _, _ = small
    good, _ = parsed_lines(log)
    assert any(b":" in m["ip"] for m in good)
    assert any(b"?" in m["request"] for m in good)
    assert any(m["request"].startswith(rb"\x16\x03") and m["status"] == b"400" for m in good)
    assert any(m["request"] == b"" for m in good)


def test_robots_txt_has_the_documented_groups(small: tuple[Path, Path, dict]) -> None:
    """`*` group with its Disallow/Allow lines, a Disallow: / group for AI trainers, Crawl-delay
    for SEO bots, the trap path disallowed everywhere, and a Sitemap line."""
    _, robots, truth = small
    text = robots.read_text()
    groups = [g for g in text.split("\n\n") if "User-agent:" in g]
    star, root, seo = groups
    assert "User-agent: *" in star
    for line in (
        "Disallow: /cart",
        "Disallow: /search?",
        "Disallow: /internal/",
        "Disallow: /api/",
        "Allow: /api/public",
        f"Disallow: {truth['trap_path']}",
    ):
        assert line in star.splitlines() and line in seo.splitlines(), line
    assert {f"User-agent: {a}" for a in ROOT_GROUP} <= set(root.splitlines())
    assert "Disallow: /" in root.splitlines()
    assert "Crawl-delay: 10" in seo.splitlines() and "User-agent: AhrefsBot" in seo.splitlines()
    assert "Sitemap: https://www.example.com/sitemap.xml" in text.splitlines()
    for line in text.splitlines():
        assert (
            not line
            or line.startswith("#")
            or re.match(r"^(User-agent|Disallow|Allow|Crawl-delay|Sitemap): \S", line)
        ), line


def test_gzip_output_holds_the_same_log(gen: ModuleType, tmp_path: Path) -> None:
    """--gzip writes the same lines, compressed reproducibly (no timestamp in the header)."""
    run_gen(gen, tmp_path / "plain.log", "--lines", "2000")
    run_gen(gen, tmp_path / "a.log.gz", "--lines", "2000", "--gzip")
    run_gen(gen, tmp_path / "b.log.gz", "--lines", "2000", "--gzip")
    assert gzip.decompress((tmp_path / "a.log.gz").read_bytes()) == (tmp_path / "plain.log").read_bytes()
    assert (tmp_path / "a.log.gz").read_bytes() == (tmp_path / "b.log.gz").read_bytes()


@pytest.mark.parametrize(
    "args",
    [["--lines", "0"], ["--days", "0"], ["--malformed-kinds", "nope"], ["--start", "2024-03-04T00:00:00"]],
)
def test_bad_arguments_exit_2(gen: ModuleType, tmp_path: Path, args: list[str]) -> None:
    """Invalid options are usage errors (exit 2), not tracebacks."""
    with pytest.raises(SystemExit) as exc:
        gen.main(["--out", str(tmp_path / "x.log"), *args])
    assert exc.value.code == 2


def test_bundled_example_is_reproducible(gen: ModuleType, tmp_path: Path) -> None:
    """examples/ is exactly what the command in examples/README.md writes (no hand edits, no drift)."""
    readme = (EXAMPLES / "README.md").read_text()
    command = next(
        line.strip() for line in readme.splitlines() if "bench/gen_logs.py" in line and "--out" in line
    )
    args = shlex.split(command)[2:]
    args = [str(tmp_path / Path(a).name) if a.startswith("examples/") else a for a in args]
    assert gen.main(args) == 0
    for name in ("access.log", "robots.txt", "access.log.truth.json"):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name


def test_bundled_example_is_small_and_shows_every_class() -> None:
    """The README's example stays under 1 MB, has a few malformed lines and every client class."""
    assert (EXAMPLES / "access.log").stat().st_size < 1_000_000
    truth = json.loads((EXAMPLES / "access.log.truth.json").read_text())
    assert 3000 <= truth["lines"] <= 5000
    assert truth["malformed"] > 0 and truth["invalid_requests"] > 0
    assert all(v["clients"] > 0 for v in truth["classes"].values())
    assert b"\x00" not in (EXAMPLES / "access.log").read_bytes()
