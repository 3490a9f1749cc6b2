"""The online model as a step of `botguard scan`: one event per client, in first-seen order.

Why client level: per-client rules cannot tell a person from a scraper that rotates to a new IP
every request or two (one or two page hits each). What gives such clients away is what they
share with clients the scan already judged bad: a /24 or /16, an ASN, user-agent tokens, the
same behaviour. Per-request model work would cost seconds per million lines; the judge has
already folded the requests into per-client totals, so the model reads those (tens of thousands
of rows, not millions) and the step costs a few percent of a scan.

The pass (design: ../shared/notes/online-model.md, sections 2 and "Scores to rules"):

1. :func:`client_features`: sparse ``"slot=value"`` keys per client, built column-wise (UA
   family and tokens per distinct user agent; /24, /16, IPv6 /48; ASN, hosting class and UA x
   network crosses; buckets of requests, asset and referer share, invalid-request share, rate;
   robots.txt behaviour), in FeatureExtractor's vocabulary where it has the slot. Path templates
   are not used: the clients frame keeps only robots.txt evidence, whose paths are a label source.
2. :func:`weak_labels`: a label, its source and a weight per client, from evidence the judge
   computed (:data:`LABEL_SOURCES`). A source's features are masked on the examples it labelled.
3. :func:`train`: prequential logistic regression (score first, then learn) in micro-batches, in
   time order. Labelled clients keep their pre-update score; the others are scored by the final
   model (a scan sees the whole log, so a disguised client seen before its operator was caught is
   still judged with everything the log taught).
4. :func:`signature_stats` and :func:`raise_verdicts`: a client is raised only when it scores
   high *and* shares a signature key with clients labelled overwhelmingly bad (Wilson lower
   bound), seen from enough distinct IPs, and with no verified crawler or allowlisted client.
   Verified crawlers, allowlisted clients, catalogue crawlers, people labelled by their sessions
   and clients that load page assets are never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from botguard.config import ScanModelSettings
from botguard.judge.records import AUTOMATED, BROWSER, HUMAN, VERDICT_ORDER, ModelSummary
from botguard.model.features import UA_SLOTS, ip_prefixes, ua_family, ua_tokens
from botguard.model.learner import BIAS, OnlineLR
from botguard.model.records import LearnerConfig

col = pl.col

#: Slots derived from the client's network (the identity stage reads these to verify a claim).
IP_SLOTS = frozenset({"ip24", "ip16", "ip6_48"})
NET_SLOTS = frozenset({"asn", "asn_type", "ua_fam_x_asn", "ua_fam_x_host"})
#: Slots the judge's person/program rules read (asset and referer share, pages, pace).
BEHAVIOUR_SLOTS = frozenset({"req_b", "asset_b", "ref_b", "rate_b"})
#: Keys a signature can be: a network or a UA token shared by many clients.
SIGNATURE_SLOTS = ("ip24", "ip16", "ip6_48", "asn", "ua_tok")

_LIST = pl.List(pl.String)


@dataclass(frozen=True, slots=True)
class LabelSource:
    """A weak label: which clients it marks, as what, and which slots it read (masked on them)."""

    name: str
    bad: bool
    masked: frozenset[str]
    weight: float = 1.0


#: Label sources in priority order (the first that fires labels the client). Honeypot and spoofer
#: beat everything (notes §2); verified crawlers beat the behavioural sources.
LABEL_SOURCES: tuple[LabelSource, ...] = (
    LabelSource("honeypot", True, frozenset({"path_tpl", "path_p1", "ext"})),  # reads the trap path
    LabelSource(
        "spoofed", True, UA_SLOTS | IP_SLOTS | NET_SLOTS
    ),  # reads the UA's claim and the IP's network
    LabelSource("verified", False, UA_SLOTS | IP_SLOTS | NET_SLOTS),
    LabelSource("robots", True, frozenset({"robots"})),  # robots.txt violations (hits are never a feature)
    LabelSource("blocked_category", True, UA_SLOTS),  # a catalogue entry matched by user agent
    LabelSource("automated", True, BEHAVIOUR_SLOTS),  # browser UA, behaves like a program
    # a browser UA from a hosting network asking for disallowed paths without loading assets
    LabelSource("hosting_violator", True, NET_SLOTS | frozenset({"asset_b", "robots"}), weight=0.5),
    LabelSource("obedient_crawler", False, UA_SLOTS | frozenset({"robots"})),
    LabelSource("person", False, BEHAVIOUR_SLOTS),  # assets and many requests: a real session
)


def _label_rules(settings: Any, model: ScanModelSettings) -> dict[str, pl.Expr]:
    """When each label source fires, as expressions over the clients frame."""
    policy = settings.policy
    identity = col("identity").fill_null("")
    kind = col("category")
    requests = col("requests").cast(pl.Float64)
    blocked = list(policy.block_categories)
    return {
        "honeypot": col("honeypot_requests") > 0,
        "spoofed": identity == "spoofed",
        "verified": identity == "verified",
        "robots": (col("disallowed_requests") >= policy.block_min_disallowed) & ~kind.is_in([HUMAN, BROWSER]),
        "blocked_category": kind.is_in(blocked) if blocked else pl.lit(False),
        "automated": kind == AUTOMATED,
        "hosting_violator": (
            kind.is_in([HUMAN, BROWSER]) & (col("disallowed_requests") > 0)
            & col("hosting").fill_null(False) & (col("assets").fill_null(0) == 0)
        ),
        "obedient_crawler": (
            col("crawler").is_not_null() & (col("verdict") == "allow") & (col("judged_requests") > 0)
            & (col("disallowed_requests") == 0) & (col("robots_fetched") > 0)
        ),
        "person": (
            (kind == HUMAN) & (col("requests") >= model.person_min_requests)
            & (col("assets").fill_null(0) / requests >= settings.human.min_asset_share)
        ),
    }  # fmt: skip


def weak_labels(clients: pl.DataFrame, settings: Any, model: ScanModelSettings) -> pl.DataFrame:
    """Columns ``label_source`` (name or null) and ``label`` (True bad, False good, null none)."""
    rules = _label_rules(settings, model)
    source = pl.lit(None, pl.String)
    for lf in reversed(LABEL_SOURCES):  # the first source in priority order wins
        source = pl.when(rules[lf.name].fill_null(False)).then(pl.lit(lf.name)).otherwise(source)
    bad = [lf.name for lf in LABEL_SOURCES if lf.bad]
    return clients.with_columns(label_source=source).with_columns(
        label=pl.when(col("label_source").is_not_null()).then(col("label_source").is_in(bad))
    )


# ------------------------------------------------------------------ features


def _bucket(value: pl.Expr) -> pl.Expr:
    """log2 order-of-magnitude bucket (0 for <= 1), as FeatureExtractor's log2_bucket."""
    return pl.when(value <= 1).then(0).otherwise(value.log(2).floor()).cast(pl.Int64)


def _share_bucket(part: str) -> pl.Expr:
    """Share of requests in five buckets (0 = none .. 4 = 80% or more)."""
    share = col(part).fill_null(0).cast(pl.Float64) / col("requests").cast(pl.Float64)
    return pl.min_horizontal((share * 5).floor(), pl.lit(4.0)).cast(pl.Int64)


def _ua_frame(user_agents: pl.Series) -> pl.DataFrame:
    """Per distinct user agent: its family and token keys (Python once per UA). UA shape keys are
    left out: the tokens carry what they would, and each key per client costs scan time."""
    rows = []
    for ua in user_agents.to_list():
        text = ua or ""
        rows.append((ua, ua_family(text), [f"ua_tok={t}" for t in ua_tokens(text)]))
    schema = pl.Schema({"user_agent": pl.String(), "ua_fam": pl.String(), "ua_tok": _LIST})
    return pl.DataFrame(rows, schema=schema, orient="row")


def _ip6_48(ip: pl.Expr) -> pl.Expr:
    """IPv6 /48 as FeatureExtractor writes it ("2a01:cb00:1a2b"), column-wise when the first three
    groups are spelled out (nearly always); null otherwise (those go through ip_prefixes)."""
    groups = ip.str.split("::").list.first().str.split(":")
    first = [
        groups.list.get(i, null_on_oob=True).str.to_lowercase().str.strip_chars_start("0") for i in range(3)
    ]
    spelled = [pl.when(g == "").then(pl.lit("0")).otherwise(g) for g in first]
    return pl.when(ip.str.contains(":") & (groups.list.len() >= 3)).then(
        pl.concat_str(spelled, separator=":")
    )


def _network_columns(clients: pl.DataFrame) -> pl.DataFrame:
    """ip24 / ip16 (IPv4) and ip6_48 (IPv6), column-wise; Python only for IPv6 addresses whose
    first groups are compressed ("2001:db8::1")."""
    ip = col("ip")
    octets = ip.str.extract_groups(r"^((\d{1,3}\.\d{1,3})\.\d{1,3})\.\d{1,3}$")
    frame = clients.with_columns(ip24=octets.struct.field("1"), ip16=octets.struct.field("2"))
    v6 = (
        frame.filter(ip.str.contains(":"))
        .select("ip")
        .unique(maintain_order=True)
        .with_columns(ip6_48=_ip6_48(ip))
    )
    odd = v6.filter(col("ip6_48").is_null()).get_column("ip")
    if odd.len():
        fixes = pl.Series([ip_prefixes(value).get("ip6_48") for value in odd.to_list()], dtype=pl.String)
        v6 = v6.join(pl.DataFrame({"ip": odd, "fix": fixes}), on="ip", how="left").select(
            "ip", ip6_48=pl.coalesce("ip6_48", "fix")
        )
    return frame.join(v6, on="ip", how="left", maintain_order="left")


def _key(slot: str, value: pl.Expr) -> pl.Expr:
    return pl.format("{}={}", pl.lit(slot), value)


def _slot_exprs() -> dict[str, pl.Expr]:
    """Single-valued slots: slot -> the key expression (null when the client has no value)."""
    host = (
        pl.when(col("hosting").is_null()).then(pl.lit("unknown"))
        .when(col("hosting")).then(pl.lit("hosting")).otherwise(pl.lit("other"))
    )  # fmt: skip
    minutes = pl.max_horizontal((col("last_seen") - col("first_seen")).dt.total_seconds() / 60.0, pl.lit(1.0))
    robots = (
        pl.when(col("robots_fetched") == 0).then(pl.lit("never"))
        .when(col("robots_fetched_first").fill_null(False)).then(pl.lit("first")).otherwise(pl.lit("late"))
    )  # fmt: skip
    return {
        "ua_fam": _key("ua_fam", col("ua_fam")),
        "ip24": _key("ip24", col("ip24")),
        "ip16": _key("ip16", col("ip16")),
        "ip6_48": _key("ip6_48", col("ip6_48")),
        "asn": _key("asn", col("asn")),
        "asn_type": _key("asn_type", host),
        "ua_fam_x_host": _key("ua_fam_x_host", pl.format("{}|{}", col("ua_fam"), host)),
        "ua_fam_x_asn": _key("ua_fam_x_asn", pl.format("{}|{}", col("ua_fam"), col("asn"))),
        "req_b": _key("req_b", _bucket(col("requests").cast(pl.Float64))),
        "asset_b": _key("asset_b", _share_bucket("assets")),
        "ref_b": _key("ref_b", _share_bucket("referers")),
        "rate_b": _key("rate_b", _bucket(col("requests") / minutes)),
        "invalid_b": _key("invalid_b", _share_bucket("invalid_requests")),
        "robots": _key("robots", robots),
    }


def _unmasked(slot: str) -> pl.Expr:
    """True where no label source that fired on the client masks `slot` (notes §2, leakage rule 1)."""
    masking = [lf.name for lf in LABEL_SOURCES if slot in lf.masked]
    return ~col("label_source").is_in(masking).fill_null(False) if masking else pl.lit(True)


def _long(wide: pl.DataFrame) -> pl.DataFrame:
    return wide.unpivot(index="pos", variable_name="slot", value_name="key").drop_nulls("key")


@dataclass(frozen=True, slots=True)
class ClientFeatures:
    """Every client's features, kept column-wise: building a dict per client would cost more
    than the whole model, so dicts are built only for the training sample.

    ``wide``: ``pos`` (the client's row), ``user_agent``, ``label_source`` and one key column per
    single-valued slot (unmasked). ``uas``: per distinct user agent, ``ua_tok`` (a list of keys).
    """

    wide: pl.DataFrame
    uas: pl.DataFrame

    @property
    def slots(self) -> list[str]:
        return [name for name in self.wide.columns if name not in ("pos", "user_agent", "label_source")]

    def tokens(self, clients: pl.DataFrame) -> pl.DataFrame:
        """(pos, label_source, slot, key) for the UA tokens of `clients` (rows of ``wide``)."""
        return (
            clients.select("pos", "user_agent", "label_source")
            .join(
                self.uas.select("user_agent", key="ua_tok").explode("key"), on="user_agent", nulls_equal=True
            )
            .drop_nulls("key")
            .select("pos", "label_source", slot=pl.lit("ua_tok"), key="key")
        )

    def model_long(self, positions: pl.Series) -> pl.DataFrame:
        """What the learner sees of the clients at `positions` (pos, slot, key): each label
        source's slots masked on the clients it labelled (notes §2, leakage rule 1)."""
        rows = self.wide.join(positions.to_frame("pos"), on="pos", how="semi")
        masked = rows.select(
            "pos", *[pl.when(_unmasked(slot)).then(col(slot)).alias(slot) for slot in self.slots]
        )
        tokens = self.tokens(rows).filter(_unmasked("ua_tok")).drop("label_source")
        return pl.concat([_long(masked), tokens])


def client_features(labels: pl.DataFrame) -> ClientFeatures:
    """Features of every client of `labels` (a clients frame with ``pos`` and ``label_source``)."""
    frame = _network_columns(labels.select(
        "pos", "label_source", "user_agent", "ip", "asn", "hosting", "requests", "assets", "referers",
        "invalid_requests", "first_seen", "last_seen", "robots_fetched", "robots_fetched_first",
    ))  # fmt: skip
    uas = _ua_frame(frame.get_column("user_agent").unique(maintain_order=True))
    frame = frame.join(uas.select("user_agent", "ua_fam"), on="user_agent", how="left", nulls_equal=True)
    singles = _slot_exprs()
    wide = frame.select(
        "pos", "user_agent", "label_source", *[expr.alias(slot) for slot, expr in singles.items()]
    )
    return ClientFeatures(wide, uas)


# ------------------------------------------------------------------ training


def _sample(labels: pl.DataFrame, cap: int) -> pl.DataFrame:
    """Labelled clients to train on: all of a label source's clients up to `cap`, else every k-th
    in time order with weight k (``every``): a flood of easy negatives adds time, not knowledge."""
    labelled = labels.select("pos", "label", "label_source", "first_seen").filter(col("label").is_not_null())
    parts = []
    for part in labelled.partition_by("label_source", maintain_order=True):
        every = max(1, -(-part.height // max(cap, 1)))
        parts.append(part.gather_every(every).with_columns(every=pl.lit(every, pl.Int64)))
    if not parts:
        return labelled.with_columns(every=pl.lit(1, pl.Int64))
    return pl.concat(parts).sort("pos")


def _weights(sample: pl.DataFrame, max_share: float) -> np.ndarray:
    """Per-example weights: the source's weight times its sampling step, scaled down so no source
    exceeds `max_share` of the total mass (notes §2: per-LF weights)."""
    base = {lf.name: lf.weight for lf in LABEL_SOURCES}
    mass = sample.select(
        "label_source", w=col("label_source").replace_strict(base, return_dtype=pl.Float64) * col("every")
    )
    total = float(mass.get_column("w").sum())
    per_source = mass.group_by("label_source").agg(m=col("w").sum())
    scale = per_source.select(
        "label_source",
        s=pl.when(col("m") > max_share * total).then(max_share * total / col("m")).otherwise(1.0),
    )
    return (
        mass.join(scale, on="label_source", how="left", maintain_order="left")
        .select(col("w") * col("s"))
        .to_series()
        .to_numpy()
    )


def _batch_size(examples: int, largest: int) -> int:
    """Micro-batch size: about 64 batches per scan, between 8 and `largest` (a whole small log in
    one batch would be scored before the model learned anything; fewer, larger batches learned
    less on generated logs: 95% of disguised scrapers caught at 16 batches vs 99% at 64)."""
    return max(1, min(largest, max(8, examples // 64)))


def _feature_dicts(long: pl.DataFrame, positions: pl.Series) -> list[dict[str, float]]:
    """Binary feature dicts (OnlineLR's input) of the clients at `positions`, in that order, keys
    sorted (joins do not keep row order, and the order of keys is the order of float sums)."""
    wanted = positions.to_frame("pos").with_row_index("order")
    rows = long.join(wanted, on="pos").sort(["order", "key"])
    keys = rows.get_column("key").to_list()
    counts = wanted.join(rows.group_by("order").len(), on="order", how="left").sort("order")
    ends = np.cumsum(counts.get_column("len").fill_null(0).to_numpy().astype(np.int64))
    starts = np.concatenate(([0], ends[:-1]))
    return [dict.fromkeys(keys[a:b], 1.0) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def train(
    features: ClientFeatures, labels: pl.DataFrame, model: ScanModelSettings
) -> tuple[OnlineLR, pl.DataFrame]:
    """Prequential pass over (a sample of) the labelled clients in time order: each micro-batch
    is scored, then learned. Returns the model and (``pos``, ``pre_score``) of the examples."""
    learner = OnlineLR(LearnerConfig(lr=model.learning_rate))
    sample = _sample(labels, model.max_examples_per_source)
    if sample.height == 0:
        return learner, pl.DataFrame(schema={"pos": pl.UInt32, "pre_score": pl.Float64})
    positions = sample.get_column("pos")
    xs = _feature_dicts(features.model_long(positions), positions)
    ys = sample.get_column("label").to_numpy().astype(bool)
    weights = _weights(sample, model.max_lf_share)
    stamps = sample.get_column("first_seen").dt.epoch("s").to_numpy().astype(np.float64)
    step = _batch_size(len(xs), model.batch_size)
    pre = np.empty(len(xs))
    for start in range(0, len(xs), step):
        end = min(start + step, len(xs))
        pre[start:end] = learner.learn_many(
            xs[start:end], ys[start:end], now=float(stamps[end - 1]), weights=weights[start:end]
        )
    return learner, pl.DataFrame({"pos": positions, "pre_score": pre})


def score_all(features: ClientFeatures, learner: OnlineLR) -> pl.DataFrame:
    """P(unwanted) of every client from the final weights on all its features (pos, final_score):
    the bias plus the sum of its known keys' weights, exactly OnlineLR.predict_proba_many with
    binary features, but column-wise (UA tokens summed once per distinct user agent)."""
    table = learner.table
    keys = pl.Series(list(table.index), dtype=pl.String)
    rows = np.fromiter(table.index.values(), dtype=np.int64, count=len(table.index))
    weights = pl.Series(table.w[rows], dtype=pl.Float64)
    bias = float(table.w[table.index[BIAS]]) if BIAS in table.index else 0.0

    def weight(expr: pl.Expr) -> pl.Expr:
        return expr.replace_strict(keys, weights, default=0.0, return_dtype=pl.Float64).fill_null(0.0)

    ua_part = features.uas.select("user_agent", ua_w=col("ua_tok").list.eval(weight(pl.element())).list.sum())
    wide = features.wide.join(ua_part, on="user_agent", how="left", nulls_equal=True, maintain_order="left")
    z = wide.select(
        "pos", z=pl.sum_horizontal(*[weight(col(slot)) for slot in features.slots], col("ua_w")) + bias
    )
    return z.select("pos", final_score=1.0 / (1.0 + (-col("z").clip(-35.0, 35.0)).exp()))


# ------------------------------------------------------------------ signatures and raises


def wilson_lower(bad: pl.Expr, total: pl.Expr, z: float = 1.645) -> pl.Expr:
    """Wilson score lower bound of bad/total (one-sided 95% by default): small samples get
    little credit, so three bad clients out of three is not yet "overwhelmingly bad"."""
    n = total.cast(pl.Float64)
    p = bad.cast(pl.Float64) / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt())
    return pl.when(n > 0).then((centre - spread) / (1 + z2 / n)).otherwise(0.0)


def _label_counts(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per `by`: clients labelled bad and good, verified and allowlisted clients."""
    return frame.group_by(by).agg(
        bad=col("label").fill_null(False).sum(),
        good=(~col("label")).fill_null(False).sum(),
        verified=(col("identity") == "verified").fill_null(False).sum(),
        allowlisted=col("allowlisted").is_not_null().sum(),
    )


def _network_keys(features: ClientFeatures, positions: pl.DataFrame | None = None) -> pl.DataFrame:
    wide = features.wide if positions is None else features.wide.join(positions, on="pos", how="semi")
    return _long(wide.select("pos", *[slot for slot in SIGNATURE_SLOTS if slot != "ua_tok"])).select(
        "pos", "key"
    )


def signature_stats(features: ClientFeatures, labels: pl.DataFrame, model: ScanModelSettings) -> pl.DataFrame:
    """Per signature key that can qualify: distinct IPs, bad and good labelled clients, verified
    and allowlisted clients, the Wilson bound and the level ("monitor" or "strong").

    Counts come first and are cheap (UA tokens are counted per distinct user agent, then summed);
    distinct IPs are counted only for the keys whose labels can still qualify.
    """
    facts = labels.select("pos", "ip", "user_agent", "label", "identity", "allowlisted")
    keys = _network_keys(features)
    bad_keys = keys.join(facts.filter(col("label").fill_null(False)).select("pos"), on="pos", how="semi")
    network = keys.join(bad_keys.select("key").unique(), on="key", how="semi").join(facts, on="pos")
    tokens = features.uas.select("user_agent", key="ua_tok").explode("key").drop_nulls("key")
    per_ua = _label_counts(facts, "user_agent").join(tokens, on="user_agent", nulls_equal=True)
    sums = [col(name).sum() for name in ("bad", "good", "verified", "allowlisted")]
    counts = (
        pl.concat([_label_counts(network, "key"), per_ua.group_by("key").agg(sums)], how="vertical_relaxed")
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
    clean = (col("verified") == 0) & (col("allowlisted") == 0)
    qualifies = (
        clean
        & (col("ips") >= model.min_ips)
        & (col("bad") >= model.min_bad)
        & (col("lcb") >= model.min_bad_lcb)
    )
    strong = (
        qualifies & (col("ips") >= model.strong_ips) & (col("bad") >= model.strong_bad)
        & (col("lcb") >= model.strong_bad_lcb)
        & col("key").str.extract(r"^([a-z0-9_]+)=").is_in(list(model.block_slots))
    )  # fmt: skip
    level = pl.when(strong).then(pl.lit("strong")).when(qualifies).then(pl.lit("monitor"))
    return stats.with_columns(level=level).filter(col("level").is_not_null()).sort("key")


def eligible(model: ScanModelSettings) -> pl.Expr:
    """Who the model may ever raise: unknown browsers and programs, never a verified or catalogue
    crawler, an allowlisted client, a person labelled by its session, a client loading assets or
    one whose longer session mostly follows links."""
    follows_links = (col("requests") >= model.person_min_requests) & (
        col("referers").fill_null(0) >= model.person_referer_share * col("requests")
    )
    return (
        ~follows_links
        & col("crawler").is_null()
        & col("allowlisted").is_null()
        & (col("identity") != "verified").fill_null(True)
        & ~col("verified").fill_null(False)
        & col("label").fill_null(True)
        & (col("assets").fill_null(0) == 0)
        & col("verdict").is_in(["allow", "monitor"])
    )


def _best_signature(
    features: ClientFeatures, labels: pl.DataFrame, stats: pl.DataFrame, model: ScanModelSettings
) -> pl.DataFrame:
    """Per eligible client: its strongest qualifying signature key (strong first, then by Wilson
    bound and bad support), with that key's support."""
    ranked = stats.with_columns(strong=col("level") == "strong")
    who = labels.filter(eligible(model)).select("pos", "user_agent", "label_source")
    keys = pl.concat([_network_keys(features, who.select("pos")), features.tokens(who).select("pos", "key")])
    return (
        keys.join(ranked, on="key", how="inner")
        .sort(["pos", "strong", "lcb", "bad", "key"], descending=[False, True, True, True, False])
        .group_by("pos", maintain_order=True)
        .first()
        .select("pos", "key", "bad", "ips", "strong")
    )


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    """The clients frame with ``model_score`` (and raised verdicts), plus the summary totals."""

    clients: pl.DataFrame
    summary: ModelSummary


def raise_verdicts(scored: pl.DataFrame, best: pl.DataFrame, model: ScanModelSettings) -> pl.DataFrame:
    """(row, model_score, verdict, reason, raised) for every client: the raised ones get a
    harsher verdict and the model's reason (null reason for the others)."""
    joined = scored.select("row", "pos", "verdict", "model_score").join(best, on="pos", how="left")
    target = (
        pl.when(col("strong").fill_null(False))
        .then(pl.lit(model.strong_raise_to))
        .otherwise(pl.lit(model.raise_to))
    )
    raise_it = (
        col("key").is_not_null()
        & (col("model_score") >= model.min_score)
        & (target.replace_strict(VERDICT_ORDER, return_dtype=pl.Int8)
           > col("verdict").replace_strict(VERDICT_ORDER, return_dtype=pl.Int8))
    ).fill_null(False)  # fmt: skip
    cents = (col("model_score") * 100).round().cast(pl.Int64)
    score = pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))  # 0.97, 1.00
    reason = pl.format(
        "model: shares {} with {} clients judged bad ({} IPs; score {})",
        col("key"),
        col("bad"),
        col("ips"),
        score,
    )
    return joined.select(
        "row",
        "model_score",
        raised=raise_it,
        verdict=pl.when(raise_it).then(target).otherwise(col("verdict")),
        reason=pl.when(raise_it).then(reason),
    )


#: Columns of the clients frame the model step reads (the rest is carried through untouched).
_READS = (
    "ip", "user_agent", "crawler", "category", "requests", "robots_fetched", "robots_fetched_first",
    "disallowed_requests", "honeypot_requests", "verified", "identity", "asn", "verdict", "first_seen",
    "last_seen", "judged_requests", "invalid_requests", "assets", "referers", "hosting", "allowlisted",
)  # fmt: skip


def score_clients(
    clients: pl.DataFrame, settings: Any, model: ScanModelSettings | None = None
) -> ModelOutcome:
    """The whole model step on a judged clients frame (CLIENT_SCHEMA), in the judge's order."""
    model = model or ScanModelSettings.from_settings(settings)
    if clients.height == 0:
        return ModelOutcome(clients, _summary(0, 0, {}, 0))
    ordered = clients.select(_READS).with_row_index("row").sort(["first_seen", "row"])
    labels = weak_labels(ordered, settings, model).with_row_index("pos")
    features = client_features(labels)
    learner, pre = train(features, labels, model)
    scores = (
        score_all(features, learner)
        .join(pre, on="pos", how="left")
        .select("pos", model_score=pl.coalesce("pre_score", "final_score").round(4))
    )
    scored = labels.select("row", "pos", "verdict").join(scores, on="pos", how="left")
    stats = signature_stats(features, labels, model)
    raised = raise_verdicts(scored, _best_signature(features, labels, stats, model), model).sort("row")
    counts = dict(raised.filter(col("raised")).get_column("verdict").value_counts().iter_rows())
    summary = _summary(labels.height, pre.height, counts, stats.height)
    if not summary.raised:
        return ModelOutcome(clients.with_columns(model_score=raised.get_column("model_score")), summary)
    updated = clients.with_columns(
        model_score=raised.get_column("model_score"),
        verdict=raised.get_column("verdict"),
        reasons=pl.when(raised.get_column("raised"))
        .then(pl.concat_list(col("reasons"), pl.lit(raised.get_column("reason"))))
        .otherwise(col("reasons")),
    )
    return ModelOutcome(_judge_order(updated), summary)


def _judge_order(clients: pl.DataFrame) -> pl.DataFrame:
    """Harshest verdict first, then score, requests, ip, user agent: the judge's report order."""
    rank = col("verdict").replace_strict(VERDICT_ORDER, return_dtype=pl.Int8)
    return clients.sort(
        [rank, "score", "requests", "ip", "user_agent"], descending=[True, True, True, False, False]
    )


def _summary(scored: int, trained: int, raised_to: dict[str, int], signatures: int) -> ModelSummary:
    return ModelSummary(
        clients_scored=scored,
        trained_on=trained,
        signatures=signatures,
        raised_to_monitor=int(raised_to.get("monitor", 0)),
        raised_to_block=int(raised_to.get("block", 0)),
        raised_to_challenge=int(raised_to.get("challenge", 0)),
    )
