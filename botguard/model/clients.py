"""Shared signatures: the scan's raise for clients that share a network or agent token with
clients the judge found bad.

Why client level: per-client rules cannot tell a person from a scraper that rotates to a new IP
every request or two (one or two page hits each). What gives such clients away is what they
share with clients the scan already judged bad: a /24 or /16, an IPv6 /48, an ASN, user-agent
tokens. This is counting over the judged clients, not a second learner: the scores that gate it
come from the stream learner (:mod:`botguard.model._clientpass`).

1. :func:`weak_labels`: a label and its source per client, from evidence the judge computed
   (:data:`LABEL_SOURCES`);
2. :func:`signature_stats`: signature keys (/24, /16, /48, ASN, agent token) with enough bad
   clients (Wilson lower bound), seen from enough distinct IPs, and no verified crawler or
   allowlisted client;
3. :func:`signature_raises`: each :func:`eligible` client sharing such a key that the model
   scores at least ``model.scan.min_score``, raised with its best one. Verified crawlers,
   allowlisted clients, catalogue crawlers, people labelled by their sessions and clients that
   load page assets or follow their links are never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from botguard.config import ScanModelSettings
from botguard.judge.records import AUTOMATED, BROWSER, HUMAN
from botguard.model.features import ip_prefixes, ua_tokens
from botguard.model.records import ClientRaise

col = pl.col

#: Keys a signature can be: a network or a UA token shared by many clients.
SIGNATURE_SLOTS = ("ip24", "ip16", "ip6_48", "asn", "ua_tok")

_LIST = pl.List(pl.String)


@dataclass(frozen=True, slots=True)
class LabelSource:
    """A weak label: which clients it marks, and as what."""

    name: str
    bad: bool


#: Label sources in priority order (the first that fires labels the client). Honeypot and spoofer
#: beat everything; verified crawlers beat the behavioural sources.
LABEL_SOURCES: tuple[LabelSource, ...] = (
    LabelSource("honeypot", True),
    LabelSource("spoofed", True),  # the agent claims a crawler the address is proven not to be
    LabelSource("verified", False),
    LabelSource("robots", True),  # robots.txt violations by an agent that is not a browser
    LabelSource("blocked_category", True),  # a catalogue entry matched by user agent
    LabelSource("automated", True),  # browser UA, behaves like a program
    # a browser UA from a hosting network asking for disallowed paths without loading assets
    LabelSource("hosting_violator", True),
    LabelSource("obedient_crawler", False),
    LabelSource("person", False),  # assets and many requests: a real session
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


def _ua_frame(user_agents: pl.Series) -> pl.DataFrame:
    """Per distinct user agent: its token keys (Python once per UA)."""
    rows = [(ua, [f"ua_tok={t}" for t in ua_tokens(ua or "")]) for ua in user_agents.to_list()]
    schema = pl.Schema({"user_agent": pl.String(), "ua_tok": _LIST})
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


def ipv4_prefixes(ip: pl.Expr) -> pl.Expr:
    """An address's IPv4 /24 (field "1") and /16 (field "2") as
    :func:`~botguard.model.features.ip_prefixes` writes them, column-wise; both null unless the
    address is four dotted numbers (any other goes through ip_prefixes)."""
    return ip.str.extract_groups(r"^((\d{1,3}\.\d{1,3})\.\d{1,3})\.\d{1,3}$")


def ipv6_prefixes(ip: pl.Expr) -> pl.Expr:
    """An address's IPv6 /48 (field "1") and /64 (field "2") as
    :func:`~botguard.model.features.ip_prefixes` writes them, column-wise; both null unless its
    first four groups are spelled out in hex digits (any other goes through ip_prefixes)."""
    groups = ip.str.extract_groups(
        r"^([0-9A-Fa-f]{1,4}):([0-9A-Fa-f]{1,4}):([0-9A-Fa-f]{1,4}):([0-9A-Fa-f]{1,4})(?::|$)"
    )
    short = [groups.struct.field(str(i)).str.to_lowercase().str.strip_chars_start("0") for i in (1, 2, 3, 4)]
    spelled = [pl.when(g == "").then(pl.lit("0")).otherwise(g) for g in short]
    return pl.struct(
        pl.concat_str(spelled[:3], separator=":").alias("1"), pl.concat_str(spelled, separator=":").alias("2")
    )


def _network_columns(clients: pl.DataFrame) -> pl.DataFrame:
    """ip24 / ip16 (IPv4) and ip6_48 (IPv6), column-wise; Python only for IPv6 addresses whose
    first groups are compressed ("2001:db8::1")."""
    ip = col("ip")
    octets = ipv4_prefixes(ip)
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


def _long(wide: pl.DataFrame) -> pl.DataFrame:
    return wide.unpivot(index="pos", variable_name="slot", value_name="key").drop_nulls("key")


@dataclass(frozen=True, slots=True)
class ClientFeatures:
    """Every client's signature keys, kept column-wise.

    ``wide``: ``pos`` (the client's row), ``user_agent``, ``label_source`` and one key column per
    network slot. ``uas``: per distinct user agent, ``ua_tok`` (a list of keys).
    """

    wide: pl.DataFrame
    uas: pl.DataFrame

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


def client_features(labels: pl.DataFrame) -> ClientFeatures:
    """Signature keys of every client of `labels` (a clients frame with ``pos`` and ``label_source``)."""
    frame = _network_columns(labels.select("pos", "label_source", "user_agent", "ip", "asn"))
    uas = _ua_frame(frame.get_column("user_agent").unique(maintain_order=True))
    slots = [_key(slot, col(slot)).alias(slot) for slot in SIGNATURE_SLOTS if slot != "ua_tok"]
    return ClientFeatures(frame.select("pos", "user_agent", "label_source", *slots), uas)


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
    """Per `by`: clients labelled bad and good, verified and allowlisted clients (``frame``: the
    facts of :func:`_facts`)."""
    return frame.group_by(by).agg(
        bad=col("label").fill_null(False).sum(),
        good=(~col("label")).fill_null(False).sum(),
        verified=col("is_verified").sum(),
        allowlisted=col("is_allowlisted").sum(),
    )


def _network_keys(features: ClientFeatures, positions: pl.DataFrame | None = None) -> pl.DataFrame:
    wide = features.wide if positions is None else features.wide.join(positions, on="pos", how="semi")
    return _long(wide.select("pos", *[slot for slot in SIGNATURE_SLOTS if slot != "ua_tok"])).select(
        "pos", "key"
    )


def _facts(labels: pl.DataFrame) -> pl.DataFrame:
    """What the counts read of each client, narrow: its row, its address as a dense number
    (``ip_id``: equal addresses, equal numbers; distinct IPs are counted on these), its agent,
    label, and whether it is verified or allowlisted as booleans.

    Why narrow: every network key of every client is joined with these facts (~900k rows for a
    10M-line log's 300k clients); joined as the address, agent, identity and allowlist texts
    they were ~85 bytes a row, ~120 MiB for a moment at the scan's peak."""
    return labels.select(
        "pos", "user_agent", "label",
        ip_id=col("ip").rank("dense"),
        is_verified=(col("identity") == "verified").fill_null(False),
        is_allowlisted=col("allowlisted").is_not_null(),
    )  # fmt: skip


def _network_stats(features: ClientFeatures, facts: pl.DataFrame) -> pl.DataFrame:
    """:func:`_label_counts` and distinct IPs (``ips``) per network key with at least one client
    labelled bad, one slot at a time (a client has one key per slot), so only one slot's rows
    are joined with the facts at once."""
    per_slot = []
    for slot in SIGNATURE_SLOTS:
        if slot == "ua_tok":
            continue
        rows = features.wide.select("pos", key=slot).drop_nulls("key").join(facts, on="pos")
        counts = _label_counts(rows, "key").filter(col("bad") > 0)
        ips = (
            rows.join(counts.select("key"), on="key", how="semi")
            .group_by("key")
            .agg(ips=col("ip_id").n_unique())
        )
        per_slot.append(counts.join(ips, on="key"))
    return pl.concat(per_slot)


def _token_ips(facts: pl.DataFrame, tokens: pl.DataFrame) -> pl.DataFrame:
    """Distinct IPs (``ips``) per agent token key of ``tokens`` (user_agent, key): counted on
    numbers for the keys (``key_id``) and addresses, ~8 bytes per (client, token) row instead
    of the address, agent and key texts (~48)."""
    numbered = tokens.with_columns(key_id=col("key").rank("dense"))
    pairs = facts.select("ip_id", "user_agent").join(
        numbered.select("user_agent", "key_id"), on="user_agent", nulls_equal=True
    )
    ips = pairs.select("key_id", "ip_id").group_by("key_id").agg(ips=col("ip_id").n_unique())
    return numbered.select("key", "key_id").unique("key_id").join(ips, on="key_id").select("key", "ips")


def signature_stats(features: ClientFeatures, labels: pl.DataFrame, model: ScanModelSettings) -> pl.DataFrame:
    """Per signature key that can qualify: distinct IPs, bad and good labelled clients, verified
    and allowlisted clients, the Wilson bound and the level ("monitor" or "strong").

    Counts come first and are cheap (UA tokens are counted per distinct user agent, then summed);
    distinct IPs are counted only for the keys whose labels can still qualify.
    """
    facts = _facts(labels)
    network = _network_stats(features, facts)
    tokens = features.uas.select("user_agent", key="ua_tok").explode("key").drop_nulls("key")
    per_ua = _label_counts(facts, "user_agent").join(tokens, on="user_agent", nulls_equal=True)
    sums = [col(name).sum() for name in ("bad", "good", "verified", "allowlisted")]
    counts = (
        pl.concat([network.drop("ips"), per_ua.group_by("key").agg(sums)], how="vertical_relaxed")
        .with_columns(lcb=wilson_lower(col("bad"), col("bad") + col("good")))
        .filter((col("bad") >= model.min_bad) & (col("lcb") >= model.min_bad_lcb))
    )
    qualifying = tokens.join(counts.select("key"), on="key", how="semi")
    ips = pl.concat([network.select("key", "ips"), _token_ips(facts, qualifying)])
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


def _action(target: str) -> Literal["challenge", "block"]:
    """A raise's action: ``block`` when the verdict asked for is block, else the challenge tier."""
    return "block" if target == "block" else "challenge"


#: Columns of the clients frame the step reads.
_READS = (
    "ip", "user_agent", "crawler", "category", "requests", "robots_fetched", "disallowed_requests",
    "honeypot_requests", "verified", "identity", "asn", "verdict", "first_seen", "judged_requests",
    "assets", "referers", "hosting", "allowlisted",
)  # fmt: skip


def signature_raises(
    clients: pl.DataFrame, settings: Any, model: ScanModelSettings, scores: Sequence[float]
) -> list[ClientRaise]:
    """The eligible clients that share a qualifying signature with clients judged bad and that the
    model scores at least ``model.min_score`` (``scores``: one per row of ``clients``), each with
    its best signature (strong first, then the Wilson bound, then bad support)."""
    if clients.height == 0:
        return []
    # In the frame's order: a client's ``pos`` only names it (every count and each client's best
    # key are the same in any order), and sorting copied the 18 columns (~120 MiB for a 10M-line
    # log's 300k clients, at the scan's peak).
    read = clients.select(_READS).with_columns(model_score=pl.Series(scores, dtype=pl.Float64))
    labels = weak_labels(read, settings, model).with_row_index("pos")
    features = client_features(labels)
    stats = signature_stats(features, labels, model)
    if stats.height == 0:
        return []
    best = _best_signature(features, labels, stats, model).join(
        labels.select("pos", "ip", "user_agent", "model_score"), on="pos"
    )
    out = []
    for r in best.filter(col("model_score") >= model.min_score).sort("pos").iter_rows(named=True):
        target = model.strong_raise_to if r["strong"] else model.raise_to
        support = f"{r['ips']} IPs; score {r['model_score']:.2f}"
        reason = f"model: shares {r['key']} with {r['bad']} clients judged bad ({support})"
        key = (r["ip"], r["user_agent"] or "")
        out.append(ClientRaise(*key, r["key"], "shared", reason, int(r["ips"]), 1.0, 0.0, _action(target)))
    return out
