"""The judge's one ladder: the rung that gives a client its verdict also gives its first reason."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from botguard.judge import verdict
from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Policies that move clients between rungs: verified crawlers and categories blocked, honeypots
#: and spoofing not acted on, an allowlist (the example's own config is the default).
POLICIES = {
    "default": (EXAMPLES / "botguard.yaml").read_text(),
    "strict": "policy: {block_categories: [scanner, seo], block_verified: true, block_min_disallowed: 2}\n"
    "honeypots: [/internal/trap/, /cart]\n",
    "lenient": "policy: {block_on_honeypot: false, block_spoofed: false, monitor_categories: []}\n"
    "honeypots: [/internal/trap/]\nallowlist: {user_agents: [bytespider], ips: [104.248.0.0/16]}\n",
    "no-challenge": "policy: {challenge: [], challenge_before_block: false}\nhoneypots: [/internal/trap/]\n",
}


def rung_verdict(first_reason: str) -> str:
    """The verdict the rung that writes this first reason gives (rules/policy.yaml precedence)."""
    if first_reason.startswith(("allowlisted ", "browses like a person", "obeyed robots.txt")):
        return "allow"
    if first_reason == "nothing robots.txt forbids":
        return "allow"
    if first_reason.endswith("not blocked by default (policy.block_verified)"):
        return "monitor"
    if first_reason.startswith(("claims to be ", "hit honeypot", "violated ")) or first_reason.endswith(
        "is blocked by policy"
    ):
        return "block"
    if first_reason.startswith(("challenge: ", "challenge before block: ")):
        return "challenge"
    return "monitor"


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_verdict_comes_with_its_rungs_first_reason(policy: str, tmp_path: Path) -> None:
    """On the example log under four policies, each client's verdict is the one its first reason's
    rung gives, and every verdict kind the policy allows occurs."""
    config = tmp_path / "botguard.yaml"
    config.write_text(POLICIES[policy])
    args = ["scan", str(EXAMPLES / "access.log"), "--robots", str(EXAMPLES / "robots.txt"), "--config",
            str(config), "--no-save", "--no-dns", "--no-model", "--format", "json"]  # fmt: skip
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    clients = json.loads(r.stdout)["clients"]
    wrong = [
        (c["verdict"], c["reasons"][:1]) for c in clients if rung_verdict(c["reasons"][0]) != c["verdict"]
    ]
    assert wrong == []
    challenges = set() if policy == "no-challenge" else {"challenge"}
    assert {c["verdict"] for c in clients} == {"allow", "monitor", "block", *challenges}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_reasons_built_rung_by_rung_equal_the_whole_ladder_chained(
    policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each client's reasons are formatted for the rung that decides it alone; on the example log
    under four policies (every verdict kind, extras beside them) they equal, in
    order, what the ladder gives as one chained when/then over every client."""
    real = verdict._reasons
    compared: list[tuple[list[object], list[object]]] = []

    def checked(frame: pl.DataFrame, ladder: verdict._Ladder) -> pl.Series:
        built = real(frame, ladder)
        main = verdict._ladder(ladder.rungs, lambda rung: rung.reasons, ladder.otherwise)
        chained = frame.select(pl.concat_list(main.list.drop_nulls(), *ladder.extras).list.drop_nulls())
        compared.append((built.to_list(), chained.to_series().to_list()))
        return built

    monkeypatch.setattr(verdict, "_reasons", checked)
    config = tmp_path / "botguard.yaml"
    config.write_text(POLICIES[policy])
    args = ["scan", str(EXAMPLES / "access.log"), "--robots", str(EXAMPLES / "robots.txt"), "--config",
            str(config), "--no-save", "--no-dns", "--no-model", "--format", "json"]  # fmt: skip
    assert run_cli(*args).exit_code == 0
    assert compared and all(built == chained for built, chained in compared)
    assert sum(len(built) for built, _ in compared) > 20
