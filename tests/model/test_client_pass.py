"""The scan's client pass (botguard.model._clientpass) scores every client column-wise.

Its scores must be the ones each client's own feature parts give (the extractor's keys per client,
summed as the scorer sums them) to the last bit, on a judged generated day with odd addresses
mixed in; and it must not featurize each client's address (a 5M-line day has ~150k of them).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
import pytest

from botguard.app import Env, ScanRequest, run_scan
from botguard.catalog import load_catalog
from botguard.config import ScanModelSettings, load_settings
from botguard.model import _clientpass, replay
from botguard.model.clients import (
    ClientFeatures,
    _network_keys,
    client_features,
    ipv4_prefixes,
    ipv6_prefixes,
    signature_raises,
    signature_stats,
    weak_labels,
    wilson_lower,
)
from botguard.model.features import FeatureExtractor, ip_prefixes
from botguard.model.records import ClientRaise, RuleCandidate
from botguard.model.replay import _client_learner
from botguard.robots.sources import RobotsOption
from tests.helpers import generated_day

#: Addresses spelled every way a log may hold them: the column forms must agree with
#: ip_prefixes where they answer, and leave the rest to it.
ODD = [
    "203.0.113.7", "01.2.3.4", "1.2.3", "1.2.3.4.5", "", "a.b.c.d", "1..2.3", "٣.٢.١.٠",
    "2a05:d014:65fc:23c5:3b55:bc01:4b10:462e", "2A05:0D14:0000:023c::1", "2001:db8::1", "::1", "a:b:c:d",
    "a:b:c:d:::", "1:2:3:4.5.6.7", "12345:1:1:1:1", "fe80:0:0:0:0:0:0:1%eth0", "0:0:0:0::", ":::", "1.2.3.4:80",
]  # fmt: skip


def test_the_column_prefixes_are_the_extractors() -> None:
    frame = pl.DataFrame({"ip": ODD}).select(
        "ip", v4=ipv4_prefixes(pl.col("ip")), v6=ipv6_prefixes(pl.col("ip"))
    )
    answered = 0
    for ip, v4, v6 in frame.iter_rows():
        found = {"ip6_48": v6["1"], "ip6_64": v6["2"]} if ":" in ip else {"ip24": v4["1"], "ip16": v4["2"]}
        if all(value is not None for value in found.values()):
            answered += 1
            assert found == ip_prefixes(ip), ip
        else:
            assert all(value is None for value in found.values()), ip
    assert answered == 9


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """The judged clients of a generated 20k-line day, with the odd addresses given to some."""
    out = tmp_path_factory.mktemp("clientpass")
    log, robots = out / "day.log", out / "robots.txt"
    generated_day(log, robots, lines=20000, seed=7)
    request = ScanRequest(
        paths=(str(log),), settings=load_settings(None), save=False, dns=False, model=False,
        robots=RobotsOption(default=str(robots)),
    )  # fmt: skip
    judged = run_scan(request, Env()).result.clients
    ips = judged.get_column("ip").to_list()
    for i, odd in enumerate(ODD):
        ips[i * 7] = odd
    return judged.with_columns(ip=pl.Series(ips, dtype=pl.String))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Few examples per label source: most clients are scored, not trained on."""
    config = tmp_path_factory.mktemp("clientpass-config") / "botguard.yaml"
    config.write_text("model:\n  scan:\n    max_examples_per_source: 30\n")
    return load_settings(config)


def _fit(clients: pl.DataFrame, settings: Any) -> tuple[Any, Any]:
    learner = _client_learner(settings, None, load_catalog())
    return learner, learner.fit_clients(clients)


def test_every_score_is_the_one_its_own_feature_parts_give(clients: pl.DataFrame, settings: Any) -> None:
    learner, fit = _fit(clients, settings)
    assert 50 < fit.trained < clients.height / 4
    # What each client's own parts give with the final weights: the per-client path the
    # examples still take (agent, address and rest parts made from the client's row).
    frame = clients.select(_clientpass.READS).with_row_index("row").sort(["first_seen", "row"])
    call, address_of, addresses = _clientpass._call(
        learner, frame, _clientpass._times(frame.get_column("first_seen"))
    )
    rest_id, rest_parts = learner._keys.rests(call, _clientpass._behaviour(frame))
    parts = _clientpass.PartIds(
        [
            ([info.ua_keys for info in call.ua_infos], call.ua_of),
            ([FeatureExtractor()._ip(ip) for ip in addresses], address_of),
            (rest_parts, rest_id),
        ]
    )
    own = np.empty(frame.height)
    own[frame.get_column("row").to_numpy()] = _clientpass._score(learner, parts, slice(None))
    model = _clientpass.ScanModelSettings.from_settings(settings)
    labelled = _clientpass.weak_labels(frame, settings, model)
    examples = _clientpass._examples(labelled, model.max_examples_per_source)
    trained = np.zeros(frame.height, dtype=bool)
    trained[frame.get_column("row").to_numpy()[examples]] = True
    assert trained.sum() == fit.trained
    # Everyone else is scored by the final weights: bit for bit what their own parts give.
    assert np.array_equal(fit.scores[~trained], own[~trained])
    assert len(np.unique(np.round(fit.scores, 3))) > 20  # the weights tell clients apart


def test_scored_a_slice_at_a_time_every_score_is_the_whole_frames(
    clients: pl.DataFrame, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scored SCORE_ROWS clients at a time (a big scan's peak memory), each score is the one the
    whole frame at once gives, to the last bit, in the frame's order."""
    _, whole = _fit(clients, settings)
    monkeypatch.setattr(_clientpass, "SCORE_ROWS", 97)  # several slices and a short last one
    assert clients.height > 5 * 97 and clients.height % 97
    _, sliced = _fit(clients, settings)
    assert np.array_equal(sliced.scores, whole.scores)


def test_the_pass_featurizes_no_client_address_but_the_examples_and_odd_ones(
    clients: pl.DataFrame, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = FeatureExtractor._ip

    def counted(self: FeatureExtractor, ip: str) -> tuple[str, ...]:
        seen.append(ip)
        return original(self, ip)

    monkeypatch.setattr(FeatureExtractor, "_ip", counted)
    _, fit = _fit(clients, settings)
    odd = len(ODD) - 9  # the addresses no column form answers (test above)
    assert clients.get_column("ip").n_unique() > 4 * (fit.trained + odd)
    assert len(set(seen)) <= fit.trained + odd  # (the rest parts are featurized without an address: "")


def test_the_raise_step_looks_only_at_the_clients_a_signature_names(
    clients: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a live rule candidate, a raise can only be a campaign's or a shared signature's,
    so no other client is looked at one by one; the raises are those of the walk over every
    client that a live candidate matching no one forces."""
    settings = load_settings(None)
    model = ScanModelSettings.from_settings(settings)
    step = replay.ScanReplay(settings, stream=False, catalog=load_catalog())
    fit = _client_learner(settings, None, load_catalog()).fit_clients(clients)
    gate = fit.scores.tolist()
    shared = {(r.ip, r.user_agent): r for r in signature_raises(clients, settings, model, gate)}
    scored = clients.with_columns(model_score=pl.Series(gate))
    looked: list[str] = []
    original = replay._by_candidate

    def counted(row: dict[str, Any], *args: Any) -> Any:
        looked.append(row["ip"])
        return original(row, *args)

    monkeypatch.setattr(replay, "_by_candidate", counted)
    raised = replay._raises(scored, {}, shared, [], model)
    assert raised and looked == []
    nobody = RuleCandidate("ua_tok=nobody", "ua_pattern", "\x00nobody", "block", 1.0, 1.0, 9, 9, 0.0, 0.0, 9)
    walked = replay._raises(scored, {}, shared, [nobody], model)
    assert len(looked) > clients.height / 2  # every client no signature named
    assert [(r.ip, r.user_agent, r.signature) for r in walked] == [
        (r.ip, r.user_agent, r.signature) for r in raised
    ]
    assert step.outcome(clients).summary.raised_to_challenge == len(raised)


def test_shared_signature_raises_do_not_depend_on_the_clients_order(clients: pl.DataFrame) -> None:
    """The step reads the clients in the frame's order (a sorted copy of every client's columns
    was most of its memory): the same clients in any order raise the same clients, each with the
    same signature, reason and action."""
    settings = load_settings(None)
    model = ScanModelSettings.from_settings(settings)
    gate = _client_learner(settings, None, load_catalog()).fit_clients(clients).scores
    scored = clients.with_columns(_gate=pl.Series(gate))
    found = []
    for seed in (None, 1, 2):
        frame = scored if seed is None else scored.sample(fraction=1.0, shuffle=True, seed=seed)
        raises = signature_raises(frame, settings, model, frame.get_column("_gate").to_list())
        found.append(sorted(raises, key=lambda r: (r.ip, r.user_agent)))
    assert found[0], "the day raises someone by a shared signature"
    assert found[1] == found[0] and found[2] == found[0]


def test_applied_raises_keep_every_column_and_the_judges_order(clients: pl.DataFrame) -> None:
    """Raising verdicts changes only ``verdict`` and ``reasons`` of the raised clients, and the
    frame is in the judge's order afterwards (harshest first, then score, requests, ip, agent)."""
    settings = load_settings(None)
    model = ScanModelSettings.from_settings(settings)
    gate = _client_learner(settings, None, load_catalog()).fit_clients(clients).scores.tolist()
    scored = clients.with_columns(model_score=pl.Series(gate))
    raises = replay._raises(
        scored,
        {},
        {(r.ip, r.user_agent): r for r in signature_raises(scored, settings, model, gate)},
        [],
        model,
    )
    out = replay._apply(scored, raises, model)
    assert out.columns == scored.columns and out.height == scored.height
    named = {(r.ip, r.user_agent) for r in raises}
    key = pl.struct("ip", pl.col("user_agent").fill_null(""))
    before = scored.with_columns(_k=key).sort("_k")
    after = out.with_columns(_k=key).sort("_k")
    changed = [
        (ip, ua or "")
        for ip, ua, a, b in zip(
            before["ip"], before["user_agent"], before["verdict"], after["verdict"], strict=True
        )
        if a != b
    ]
    assert changed and set(changed) <= named
    assert before.drop("verdict", "reasons").equals(after.drop("verdict", "reasons"))
    rank = pl.col("verdict").replace_strict(replay.VERDICT_ORDER, return_dtype=pl.Int8)
    resorted = out.sort(
        [rank, "score", "requests", "ip", "user_agent"], descending=[True, True, True, False, False]
    )
    assert out.equals(resorted)


def _signature_stats_by_texts(
    features: ClientFeatures, labels: pl.DataFrame, model: ScanModelSettings
) -> pl.DataFrame:
    """The oracle: signature_stats as it was before its facts were narrowed, every network key
    of every client joined with the clients' address, agent, identity and allowlist texts."""
    col = pl.col

    def label_counts(frame: pl.DataFrame, by: str) -> pl.DataFrame:
        return frame.group_by(by).agg(
            bad=col("label").fill_null(False).sum(),
            good=(~col("label")).fill_null(False).sum(),
            verified=(col("identity") == "verified").fill_null(False).sum(),
            allowlisted=col("allowlisted").is_not_null().sum(),
        )

    facts = labels.select("pos", "ip", "user_agent", "label", "identity", "allowlisted")
    keys = _network_keys(features)
    bad_keys = keys.join(facts.filter(col("label").fill_null(False)).select("pos"), on="pos", how="semi")
    network = keys.join(bad_keys.select("key").unique(), on="key", how="semi").join(facts, on="pos")
    tokens = features.uas.select("user_agent", key="ua_tok").explode("key").drop_nulls("key")
    per_ua = label_counts(facts, "user_agent").join(tokens, on="user_agent", nulls_equal=True)
    sums = [col(name).sum() for name in ("bad", "good", "verified", "allowlisted")]
    counts = (
        pl.concat([label_counts(network, "key"), per_ua.group_by("key").agg(sums)], how="vertical_relaxed")
        .with_columns(lcb=wilson_lower(col("bad"), col("bad") + col("good")))
        .filter((col("bad") >= model.min_bad) & (col("lcb") >= model.min_bad_lcb))
    )
    token_ips = facts.select("ip", "user_agent").join(
        tokens.join(counts.select("key"), on="key", how="semi"), on="user_agent", nulls_equal=True
    )
    ips = (
        pl.concat([network.select("key", "ip").join(counts.select("key"), on="key", how="semi"),
                   token_ips.select("key", "ip")])
        .group_by("key").agg(ips=col("ip").n_unique())
    )  # fmt: skip
    stats = counts.join(ips, on="key")
    qualifies = (
        (col("verified") == 0) & (col("allowlisted") == 0) & (col("ips") >= model.min_ips)
        & (col("bad") >= model.min_bad) & (col("lcb") >= model.min_bad_lcb)
    )  # fmt: skip
    strong = (
        qualifies & (col("ips") >= model.strong_ips) & (col("bad") >= model.strong_bad)
        & (col("lcb") >= model.strong_bad_lcb)
        & col("key").str.extract(r"^([a-z0-9_]+)=").is_in(list(model.block_slots))
    )  # fmt: skip
    level = pl.when(strong).then(pl.lit("strong")).when(qualifies).then(pl.lit("monitor"))
    return stats.with_columns(level=level).filter(col("level").is_not_null()).sort("key")


def test_signature_stats_equal_the_joins_of_every_clients_texts(clients: pl.DataFrame) -> None:
    """The counts join narrow facts (addresses as dense numbers, booleans for verified and
    allowlisted, one network slot at a time): the same keys, counts, distinct IPs and levels as
    joining every key with the clients' texts, at the default thresholds and at ones loose
    enough that most keys qualify (several clients per address among them), and with no
    minimum of bad clients (a network key still needs one)."""
    settings = load_settings(None)
    base = ScanModelSettings.from_settings(settings)
    gate = _client_learner(settings, None, load_catalog()).fit_clients(clients).scores
    scored = clients.with_columns(model_score=pl.Series(gate))
    assert scored.get_column("ip").is_duplicated().any(), "addresses shared by several clients"
    labels = weak_labels(scored, settings, base).with_row_index("pos")
    features = client_features(labels)
    loose = replace(
        base, min_ips=1, min_bad=1, min_bad_lcb=0.0, strong_ips=2, strong_bad=1, strong_bad_lcb=0.0
    )
    for model in (base, loose, replace(loose, min_bad=0)):  # min_bad 0: a key needs one bad client still
        narrow = signature_stats(features, labels, model)
        assert narrow.height, "some key qualifies"
        assert narrow.equals(_signature_stats_by_texts(features, labels, model))
    assert (signature_stats(features, labels, loose).get_column("ips") > 1).any()


def _applied_by_sorting(
    clients: pl.DataFrame, raises: list[ClientRaise], model: ScanModelSettings
) -> pl.DataFrame:
    """The oracle: raises applied to every row, then the whole frame sorted in the judge's order."""
    raised = pl.DataFrame(
        {
            "ip": [r.ip for r in raises],
            "_ua": [r.user_agent for r in raises],
            "_verdict": [replay._target(r, model) for r in raises],
            "_reason": [f"{r.reason} (to {r.action})" for r in raises],
        },
        schema=dict.fromkeys(("ip", "_ua", "_verdict", "_reason"), pl.String),
    )
    found = clients.select("ip", _ua=pl.col("user_agent").fill_null("")).join(
        raised, on=["ip", "_ua"], how="left", maintain_order="left"
    )
    updated = clients.with_columns(
        verdict=pl.coalesce(found.get_column("_verdict"), pl.col("verdict")),
        reasons=pl.when(found.get_column("_reason").is_not_null())
        .then(pl.concat_list(pl.col("reasons"), pl.concat_list(found.get_column("_reason"))))
        .otherwise(pl.col("reasons")),
    )
    rank = pl.col("verdict").replace_strict(replay.VERDICT_ORDER, return_dtype=pl.Int8)
    return updated.sort(
        [rank, "score", "requests", "ip", "user_agent"], descending=[True, True, True, False, False]
    )


def test_applied_raises_equal_a_sort_of_every_row(clients: pl.DataFrame) -> None:
    """Raising copies only the rows between the first and the last that move; the frame is the
    one a sort of every row gives, whichever rows are raised: none moving (a challenged client
    raised to the challenge tier keeps its place, with the raise's reason), the last row of the
    frame, allowed clients far down the frame, and to block."""
    model = ScanModelSettings.from_settings(load_settings(None))
    frame = _applied_by_sorting(
        clients.with_columns(model_score=pl.lit(0.5)), [], model
    )  # (odd addresses moved)
    assert replay._apply(frame, [], model).equals(frame)
    verdicts = frame.get_column("verdict")
    assert {"allow", "challenge"} <= set(verdicts.to_list())

    def raise_of(row: int, action: str) -> ClientRaise:
        ip, ua = frame.row(row)[:2]
        return ClientRaise(ip, ua or "", "ua_tok=x", "shared", f"raised row {row}", 3, 1.0, 0.0, action)  # type: ignore[arg-type]

    challenged = verdicts.to_list().index("challenge")
    allowed = [i for i, v in enumerate(verdicts.to_list()) if v == "allow"]
    cases = [
        [raise_of(challenged, "challenge")],
        [raise_of(frame.height - 1, "challenge")],
        [raise_of(allowed[0], "block"), raise_of(allowed[len(allowed) // 2], "challenge")],
        [raise_of(i, "challenge" if i % 2 else "block") for i in allowed[::37]],
    ]
    for raises in cases:
        out = replay._apply(frame, raises, model)
        assert out.equals(_applied_by_sorting(frame, raises, model))
    assert (
        replay._apply(frame, cases[0], model)
        .row(challenged, named=True)["reasons"][-1]
        .startswith("raised row")
    )


def test_raisable_rows_are_the_named_ones_the_filter_keeps(clients: pl.DataFrame) -> None:
    """The rows a raise may reach are picked by name first and filtered after: the same rows, in
    the frame's order, as filtering every client and then picking the named ones (no catalogue
    or verified crawler, no allowlisted client)."""
    frame = clients.with_columns(model_score=pl.lit(0.5))
    assert frame.get_column("crawler").is_not_null().any()
    every = list(
        zip(frame.get_column("ip").to_list(), frame.get_column("user_agent").fill_null("").to_list())
    )
    some = every[::3]
    may = (
        pl.col("crawler").is_null() & pl.col("allowlisted").is_null() & ~pl.col("verified").fill_null(False)
        & (pl.col("identity") != "verified").fill_null(True)
    )  # fmt: skip
    for keys in (every, some):
        picked = replay._raisable(frame, keys, False)
        named = pl.DataFrame({"ip": [ip for ip, _ in keys], "_ua": [ua for _, ua in keys]})
        oracle = (
            frame.select(picked.columns).filter(may)
            .with_columns(_ua=pl.col("user_agent").fill_null(""))
            .join(named, on=["ip", "_ua"], how="semi", maintain_order="left").drop("_ua")
        )  # fmt: skip
        assert picked.height and picked.equals(oracle)
    assert replay._raisable(frame, [], True).equals(frame.select(picked.columns).filter(may))
