"""Configuration: the bundled defaults (rules/policy.yaml) overlaid with the user's YAML file.

Loading is strict, as CrowdSec's is: an unknown key, a wrong type or a bad value is a
:class:`~botguard.errors.ConfigError` naming the file, the line and the key, raised before
any work starts. Validation needs no I/O beyond reading the file itself.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from botguard.addresses import AddressError, Network, rule_network
from botguard.errors import ConfigError, Location
from botguard.yamldata import SafeLoader

#: Evidence that can send a browser-agent client to ``challenge`` (``policy.challenge``), each with
#: what it means. Here, not in the judge, so that loading a config never imports the judge; the
#: judge holds one condition per name (botguard.judge.verdict).
CHALLENGE_EVIDENCE: Mapping[str, str] = {
    "automated": "judged a program by its behaviour (no assets over many pages, a program's pace, probing)",
    "no_referer": "too little traffic to judge, but challenge_min_pages pages or more, no referer, no asset",
    "hosting": "too little traffic to judge, from a hosting network",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """When a client is blocked, challenged or monitored (see rules/policy.yaml for each key's meaning)."""

    block_min_disallowed: int = 1
    block_on_honeypot: bool = True
    block_categories: tuple[str, ...] = ()
    monitor_categories: tuple[str, ...] = ("scanner",)
    crawl_delay_tolerance: float = 0.5
    block_spoofed: bool = True
    block_verified: bool = False
    challenge: tuple[str, ...] = tuple(CHALLENGE_EVIDENCE)  # names of CHALLENGE_EVIDENCE
    challenge_min_pages: int = 2
    challenge_before_block: bool = True


@dataclass(frozen=True, slots=True)
class HumanRules:
    """What makes a browser-like client count as a person."""

    min_asset_share: float = 0.2
    min_referer_share: float = 0.3
    max_pages_without_assets: int = 30
    min_seconds_per_page: float = 2.0


@dataclass(frozen=True, slots=True)
class AllowedClient:
    """An exact (IP, user agent) pair that is never blocked."""

    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Clients that always get `allow`, whatever else they did."""

    user_agents: tuple[str, ...] = ()  # lower-cased substrings
    networks: tuple[Network, ...] = ()
    clients: tuple[AllowedClient, ...] = ()


@dataclass(frozen=True, slots=True)
class DecideSettings:
    """How verdicts become decisions: ban length, escalation, throttling (see rules/policy.yaml)."""

    bantime: float = 86400.0
    bantime_factor: float = 2.0
    bantime_max: float = 30 * 86400.0
    throttle_monitor: bool = False
    throttle_rate: int = 2
    throttle_burst: int = 4
    challenge_time: float = 86400.0  # seconds a challenge decision lasts (renewed while it holds)


@dataclass(frozen=True, slots=True)
class ServerTarget:
    """Where one web server's rule files go and how to check and reload it (argv lists)."""

    dir: str | None = None
    validate: tuple[str, ...] = ()
    reload: tuple[str, ...] = ()
    probe: str | None = None  # URL that must answer (any status < 500) after a reload


@dataclass(frozen=True, slots=True)
class SshDir:
    """A rules directory on another machine: ``ssh://USER@HOST:PORT/PATH``."""

    user: str | None
    host: str
    port: int
    path: str

    @property
    def destination(self) -> str:
        """What ``ssh`` is given: ``USER@HOST`` or ``HOST``."""
        return f"{self.user}@{self.host}" if self.user else self.host


@dataclass(frozen=True, slots=True)
class HostTarget:
    """One host of a fan-out (``deploy.hosts``): a server kind and its own rules directory.

    The directory is local (or a shared mount of the host's), or on the host over SSH
    (``remote``): then botguard on the host receives the rendered files and runs the whole
    deploy there, ``validate``/``reload`` included. Those default to ``deploy.<server>``'s
    commands, so a host needs only what differs.
    """

    name: str
    server: str  # nginx | apache
    dir: str
    validate: tuple[str, ...]
    reload: tuple[str, ...]
    probe: str | None = None
    remote: SshDir | None = None  # set when ``dir`` is an ssh:// URL
    ssh: tuple[str, ...] = ("ssh", "-o", "BatchMode=yes")  # the ssh command and its options
    botguard: tuple[str, ...] = ("botguard",)  # botguard on the host
    #: Where that host's own ``botguard serve`` reads the pass secret (its ``serve.secret_path``):
    #: deploy-rules copies this machine's keyring there, so the host's serve signs what its
    #: routing files check. None: the host's routing goes to a serve that already has it.
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class DeploySettings:
    """deploy-rules targets; a target without ``dir`` is skipped unless given on the command line."""

    nginx: ServerTarget = field(
        default_factory=lambda: ServerTarget(None, ("nginx", "-t", "-q"), ("nginx", "-s", "reload"))
    )
    apache: ServerTarget = field(
        default_factory=lambda: ServerTarget(None, ("apache2ctl", "-t"), ("apache2ctl", "graceful"))
    )
    lock: str | None = None
    hosts: tuple[HostTarget, ...] = ()  # fan-out: every host gets the same decisions


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """Identity verification and network lookups (see rules/policy.yaml, key `identity`)."""

    dns: bool = True  # forward-confirmed reverse DNS (scan --no-dns turns it off)
    dns_timeout: float = 2.0  # seconds per DNS lookup
    dns_budget: float = 20.0  # seconds for all DNS lookups of one scan
    dns_concurrency: int = 32  # lookups in flight at once
    dns_cache_ttl: float = 86400.0  # seconds a reverse-DNS answer stays cached in the state DB
    dns_nameservers: tuple[str, ...] = ()  # resolver IPs; empty: the system's (/etc/resolv.conf)
    dns_port: int = 53
    max_log_age_days: int = 365  # requests older than the range lists by more: identity unverifiable
    asn_db: str | None = None  # a MaxMind GeoLite2/GeoIP2 ASN .mmdb (else the bundled table)
    country_db: str | None = None  # a MaxMind GeoLite2/GeoIP2 Country .mmdb
    bundled_asn: bool = True  # use the bundled IP-to-ASN table (RouteViews, NRO, DB-IP)


@dataclass(frozen=True, slots=True)
class CloudflareSettings:
    """Cloudflare sync target (``botguard cloudflare``); the token may also come from the environment."""

    account_id: str | None = None
    zone_id: str | tuple[str, ...] | None = None  # one zone id, or several sharing the account's list
    api_token: str | None = None  # prefer CLOUDFLARE_API_TOKEN: a config file is often world-readable
    list_name: str = "botguard_block"
    base_url: str | None = None  # API base URL (tests point it at a local fake)
    guard_bots: bool = True  # add `not cf.client.bot`: never block a Cloudflare-verified bot
    max_rules: int | None = None  # the zone plan's custom-rule quota (Free 5, Pro 20, Business 100)

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """The configured zones, in order (``zone_id`` may be one id or a list)."""
        if self.zone_id is None:
            return ()
        return (self.zone_id,) if isinstance(self.zone_id, str) else tuple(self.zone_id)


#: The online model's feature slots (the ``slot`` of its ``"slot=value"`` keys, see
#: botguard.model.features): the names ``model.slots`` may tune. Here, not in the model, so that
#: loading a config never imports the model (config is the schema; the model reads settings).
FEATURE_SLOTS = frozenset(
    {
        *("ua_fam", "ua_tok", "ua_shape", "ua_fam_x_asn", "ua_fam_x_host"),  # from the user agent
        *("path_tpl", "path_p1", "ext"),  # from the path
        *("ip24", "ip16", "ip6_48", "ip6_64", "asn", "asn_type"),  # from the address
        # from the request and its client's behaviour so far, and the learner's bias
        *("method", "status_cls", "robots", "robots_violated", "rate_b", "asset_b", "ref", "ref_kind"),
        *("inv_b", "bias"),
    }
)


@dataclass(frozen=True, slots=True)
class SlotOverride:
    """Admission and expiry of one model feature slot (see botguard.model.records.SlotPolicy)."""

    admit_after: int = 1  # sightings before a key of this slot gets a row
    ttl: float | None = None  # seconds of stream time without an update before the row is dropped


#: Verdicts the scan's model step may raise a client to.
RAISE_TO = ("monitor", "challenge", "block")


@dataclass(frozen=True, slots=True)
class ScanModelSettings:
    """Thresholds of the scan's model step; read from ``settings.model.scan`` when it exists.

    Defaults: a signature needs >= ``min_ips`` distinct IPs, >= ``min_bad`` clients labelled bad
    and a Wilson lower bound (one-sided 95%) of the bad share among its labelled clients >=
    ``min_bad_lcb``; the client needs model score >= ``min_score``. Then it is raised to
    ``raise_to``, or to ``strong_raise_to`` when the signature also clears the ``strong_*`` bars.
    Both default to ``challenge``: the raised clients look like people (browser agents, a request
    or two each), and a person is never blocked by default but passes a challenge; blocking them is
    the site owner's choice (``model.scan.strong_raise_to: block``), or goes through reviewed rule
    candidates.
    """

    min_score: float = 0.8
    min_ips: int = 5
    min_bad: int = 4
    min_bad_lcb: float = 0.6
    strong_ips: int = 20
    strong_bad: int = 15
    strong_bad_lcb: float = 0.85
    # The verdict of a raise without evidence of the client's own (campaigns, shared signatures,
    # candidates): the challenge tier by default.
    raise_to: Literal["monitor", "challenge", "block"] = "challenge"
    strong_raise_to: Literal["monitor", "challenge", "block"] = "challenge"
    # Signatures narrow enough to block on: a whole ASN (a cloud provider) is only ever monitored.
    block_slots: tuple[str, ...] = ("ip24", "ip16", "ip6_48", "ua_tok")
    person_min_requests: int = 5  # a browser session this long with assets is a person (negative label)
    # ... and one this long that mostly follows links (referers) is never raised, assets or not
    person_referer_share: float = 0.6
    # Replay the log through the stream learner (scores, campaign raises, candidates; scan
    # --campaigns): 6-9 times the CPU of the rest of the scan, so off unless asked for.
    replay: bool = False
    # The per-client pass (every scan): beyond this a label source is sampled evenly in time.
    max_examples_per_source: int = 400
    # Accepted so older configurations still load; unused since the scan runs the stream learner.
    batch_size: int = 256
    learning_rate: float = 0.5
    max_lf_share: float = 0.4  # no label source carries more than this share of the gradient mass

    def __post_init__(self) -> None:
        if {self.raise_to, self.strong_raise_to} - set(RAISE_TO):
            raise ValueError("model.raise_to and model.strong_raise_to must be monitor, challenge or block")

    @classmethod
    def from_settings(cls, settings: Any) -> ScanModelSettings:
        """The ``model.scan`` section of the configuration (a mapping or an object), key by key,
        defaults for what is missing. Its own section: ``model``'s keys (min_ips, lcb, ...) are
        request-level thresholds of `botguard watch` and mean something else."""
        section = getattr(getattr(settings, "model", None), "scan", None)
        if section is None:
            return cls()
        read = section.get if isinstance(section, Mapping) else lambda name: getattr(section, name, None)
        values = {f.name: value for f in fields(cls) if (value := read(f.name)) is not None}
        if "block_slots" in values:
            values["block_slots"] = tuple(values["block_slots"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CampaignRules:
    """When the model's campaign signatures qualify (``model.campaigns``; botguard.model.campaigns)."""

    enabled: bool = True
    link_window: float = 300.0  # seconds a walk step or a referer link may span
    max_step: int = 3  # ids a walk step may skip (pages of other templates consume ids too)
    min_clients: int = 8  # distinct clients a walk or referer chain needs
    burst_window: float = 600.0  # seconds of the window of new bare clients per burst key
    burst_min: int = 8  # new bare clients a burst key needs in the window
    burst_lift: float = 8.0  # ... and this many times what its usual rate explains
    baseline_half_life: float = 7200.0  # seconds: how fast a key's usual rate forgets
    baseline_floor: float = 0.5  # clients per window a key is expected to have at least
    self_walk: int = 4  # consecutive-id steps by one client without assets
    self_walk_hosting: int = 12  # ... by one client from a hosting network, assets or not
    client_ttl: float = 3600.0  # a client idle this long is forgotten (its outcome is kept)
    keep: float = 86400.0  # seconds an outcome (score, raise) is kept after the client's last request
    orphan_referer: bool = True  # raise a bare client naming a page of this site it never requested
    orphan_warmup: float = 3600.0  # seconds of stream before that (sessions begun before the log)
    orphan_memory: float = 43200.0  # seconds a (client, page) is remembered at least (twice at most)
    orphan_max_share: float = 0.02  # ... off while browsers that load assets do it this often

    @classmethod
    def from_settings(cls, settings: Any) -> CampaignRules:
        """``settings.model.campaigns`` (a mapping, checked by the loader) key by key, defaults
        for what is missing."""
        section = getattr(getattr(settings, "model", None), "campaigns", None) or {}
        return cls(**{k: v for k, v in dict(section).items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """The online model of `botguard watch` / scan (see rules/policy.yaml, key `model`)."""

    enabled: bool = True
    threshold: float = 0.9  # a request scoring above this counts as high-scoring (flagged)
    min_requests: int = 200  # requests a signature needs before it can become a rule candidate
    min_ips: int = 3  # distinct client IPs it needs (a single /24 needs min_requests_single_net)
    min_ips_named: int = 2  # ... when it is a UA name the agent gives itself as a bot's
    min_requests_single_net: int = 500
    lcb: float = 0.95  # Wilson lower bound of its high-scoring share a candidate must reach
    max_human_share: float = 0.001  # share of its requests from human-labelled clients it may have
    micro_batch_seconds: float = 10.0  # stream seconds one micro-batch spans (score before, learn after)
    delta_interval: float = 10.0  # seconds of stream time between trainer -> scorer deltas
    snapshot_every: float = 900.0  # seconds between snapshots of a long-running learner
    auto_deploy: bool = False  # deploy-rules uses proposed candidates without approval
    candidate_ttl: float = 86400.0  # a deployed candidate stays this long after it was last proposed
    slots: Mapping[str, SlotOverride] = field(default_factory=dict)  # per-slot admission/expiry overrides
    # Thresholds of scan's client-level model step (ScanModelSettings, read by botguard.model.clients):
    # their own section, because min_ips, lcb ... above are watch's request-level thresholds.
    scan: Mapping[str, Any] = field(default_factory=dict)
    # Campaign signatures of the stream learner (CampaignRules, read by botguard.model.campaigns).
    campaigns: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """``botguard serve``, the challenge tier (see botguard/serve/README.md).

    ``bind`` says what a pass cookie is bound to: the client's ``address``, or its ``network``
    (the /24 of an IPv4 address, the /64 of an IPv6 one) for clients whose address changes
    between requests (mobile carriers, some proxies).
    """

    listen: str = "127.0.0.1:8787"  # HOST:PORT (IP literal or localhost) or unix:/ABSOLUTE/PATH
    difficulty: int = 14  # leading zero bits of the SHA-256 proof of work (median solve ~0.2 s in Chromium)
    cookie_lifetime: float = 86400.0  # seconds a pass stays valid
    challenge_lifetime: float = 300.0  # seconds a challenge may take to solve
    bind: str = "address"  # address | network
    secret_path: str | None = None  # the keyring; default: serve-secret.json beside the state database
    timeout: float = 2.0  # seconds the web server waits for serve before it serves the content anyway
    # serve down or slow: true, the content anyway (an internal redirect back, which a site's
    # internal-only paths admit too); false, 503 for challenged clients until serve answers
    fail_open: bool = True
    access_log: str | None = None  # JSON-lines access log; default: stderr


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a verb needs from configuration, validated."""

    policy: Policy = field(default_factory=Policy)
    human: HumanRules = field(default_factory=HumanRules)
    honeypots: tuple[str, ...] = ()
    allowlist: Allowlist = field(default_factory=Allowlist)
    log_format: str | None = None
    json_fields: Mapping[str, str] = field(default_factory=dict)
    decide: DecideSettings = field(default_factory=DecideSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    cloudflare: CloudflareSettings = field(default_factory=CloudflareSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    source: str | None = None  # the user's config file, if any


# ---------------------------------------------------------------- schema
# Each leaf validator takes (value, location) and returns the typed value or raises.

Validator = Callable[[Any, Location], Any]


def _int(min_value: int = 0) -> Validator:
    def check(value: Any, where: Location) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < min_value:
            raise ConfigError(f"expected an integer >= {min_value}, got {value!r}", where)
        return value

    return check


def _share(value: Any, where: Location) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"expected a number between 0 and 1, got {value!r}", where)
    return float(value)


def _seconds(value: Any, where: Location) -> float:
    """Seconds >= 0; not YAML's ``.nan`` (every comparison with it is false) or ``.inf``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ConfigError(f"expected a finite number of seconds >= 0, got {value!r}", where)
    return float(value)


def _bool(value: Any, where: Location) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", where)
    return value


def _str_list(value: Any, where: Location) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError("expected a list of non-empty strings", where)
    return tuple(value)


def _challenge_evidence(value: Any, where: Location) -> tuple[str, ...]:
    """``policy.challenge``: names of :data:`CHALLENGE_EVIDENCE`, each once ([] challenges no one)."""
    names = _str_list(value, where)
    for name in names:
        if name not in CHALLENGE_EVIDENCE:
            raise ConfigError(f"unknown evidence {name!r} (known: {', '.join(CHALLENGE_EVIDENCE)})", where)
    if len(set(names)) != len(names):
        raise ConfigError(f"evidence listed twice: {next(n for n in names if names.count(n) > 1)!r}", where)
    return names


def _path_prefixes(value: Any, where: Location) -> tuple[str, ...]:
    prefixes = _str_list(value, where)
    for prefix in prefixes:
        if not prefix.startswith("/"):
            raise ConfigError(f"honeypot path must start with '/': {prefix!r}", where)
    return prefixes


def _networks(value: Any, where: Location) -> tuple[Network, ...]:
    """Networks the user lists: loopback and the like are fine, a zone id no rule can name is not."""
    networks = []
    for item in _str_list(value, where):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"not an IP address or CIDR range: {item!r}", where) from None
        networks.append(ipaddress.ip_network(_rule_value(item, where, network=True)))
    return tuple(networks)


def _rule_value(item: str, where: Location, *, network: bool = False) -> str:
    """The canonical form of an address the user lists (IPv4-mapped IPv6 folded, as logs are)."""
    try:
        return rule_network(item, network=network, listed=True)
    except AddressError as exc:
        raise ConfigError(f"no server rule can name {item!r} ({exc.message})", where) from None


def _addresses(value: Any, where: Location) -> tuple[str, ...]:
    addresses = _str_list(value, where)
    for item in addresses:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(f"not an IP address: {item!r}", where) from None
    return addresses


def _clients(value: Any, where: Location) -> tuple[AllowedClient, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("expected a list of {ip, user_agent} entries", where)
    clients = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"ip", "user_agent"}:
            raise ConfigError("each allowlist client needs exactly the keys ip and user_agent", where)
        try:
            ipaddress.ip_address(item["ip"])
        except ValueError:
            raise ConfigError(f"not an IP address: {item['ip']!r}", where) from None
        clients.append(AllowedClient(_rule_value(str(item["ip"]), where), str(item["user_agent"])))
    return tuple(clients)


def _positive(value: Any, where: Location) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"expected a number > 0, got {value!r}", where)
    return float(value)


def _finite(value: Any, where: Location) -> float:
    """:func:`_positive`, and not YAML's ``.nan`` (which compares false with 0) or ``.inf`` (an
    interval or count never reached)."""
    number = _positive(value, where)
    if not math.isfinite(number):
        raise ConfigError(f"expected a finite number > 0, got {value!r}", where)
    return number


#: The longest ban, challenge or candidate life a setting may name: a hundred years is as good as
#: forever, and its end is still a date Python and the state database can hold (``.inf`` or 1e300
#: seconds overflow both when a decision's expiry is worked out).
LONGEST_SECONDS = 100 * 365.25 * 86400


def _seconds_up_to(maximum: float, meaning: str) -> Validator:
    """Seconds > 0 and at most ``maximum``: a bound the value is used under (a date, a poll
    timeout), which ``.nan`` and ``.inf`` fail too."""

    def check(value: Any, where: Location) -> float:
        seconds = _positive(value, where)
        if not seconds <= maximum:  # (NaN too)
            raise ConfigError(
                f"expected seconds > 0, at most {maximum:.10g} ({meaning}), got {value!r}", where
            )
        return seconds

    return check


_duration = _seconds_up_to(LONGEST_SECONDS, "100 years")


#: The micro-batch spans model.micro_batch_seconds may set. Stream times are Unix seconds, so a
#: shorter span overflows the slot numbers; a longer one (or .inf) means one micro-batch a day or
#: more, scored before anything it holds is learned.
MICRO_BATCH_SECONDS = (0.001, 86_400.0)


def _micro_batch(value: Any, where: Location) -> float:
    low, high = MICRO_BATCH_SECONDS
    seconds = _positive(value, where)
    if not low <= seconds <= high:  # (NaN too)
        raise ConfigError(f"expected seconds from {low:g} to {high:g}, got {value!r}", where)
    return seconds


def _argv(value: Any, where: Location) -> tuple[str, ...]:
    """A command as a list of words (no shell), e.g. [nginx, -t, -q]; [] disables the step."""
    return _str_list(value, where)


def _optional_str(value: Any, where: Location) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}", where)
    return value


def _str_map(value: Any, where: Location) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError("expected a mapping of strings to strings", where)
    return dict(value)


def _pattern(regex: str, what: str) -> Validator:
    compiled = re.compile(regex)

    def check(value: Any, where: Location) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ConfigError(f"expected {what}, got {value!r}", where)
        return value

    return check


def _probe_url(value: Any, where: Location) -> str | None:
    """A health probe deploy fetches after a reload: http(s) only (urllib would read file://)."""
    if value is not None and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
        raise ConfigError(f"expected an http:// or https:// URL, got {value!r}", where)
    return value


def _model_slots(value: Any, where: Location) -> dict[str, SlotOverride]:
    """{slot: {admit_after: N, ttl: SECONDS|null}}; slot names are the model's feature slots."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("expected a mapping of feature slot to {admit_after, ttl}", where)
    slots = {}
    for slot, spec in value.items():
        if slot not in FEATURE_SLOTS:
            known = ", ".join(sorted(FEATURE_SLOTS))
            raise ConfigError(f"unknown feature slot {slot!r} (known: {known})", where)
        if not isinstance(spec, dict) or not set(spec) <= {"admit_after", "ttl"}:
            raise ConfigError(f"slot {slot}: expected a mapping with keys admit_after and/or ttl", where)
        admit = _int(1)(spec.get("admit_after", 1), where)
        ttl = spec.get("ttl")
        slots[slot] = SlotOverride(admit, None if ttl is None else _finite(ttl, where))
    return slots


def _model_campaigns(value: Any, where: Location) -> dict[str, Any]:
    """``model.campaigns``: keys and types of :class:`CampaignRules`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("expected a mapping of campaign signature settings", where)
    defaults = CampaignRules()
    known = {f.name for f in fields(CampaignRules)}
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if key not in known:
            raise ConfigError(
                f"unknown key {key!r} in model.campaigns (known: {', '.join(sorted(known))})", where
            )
        checked[key] = _like(getattr(defaults, key), item, f"model.campaigns.{key}", where)
    return checked


def _model_scan(value: Any, where: Location) -> dict[str, Any]:
    """``model.scan``: keys and types of :class:`ScanModelSettings`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("expected a mapping of scan model thresholds", where)
    defaults = ScanModelSettings()
    known = {f.name for f in fields(ScanModelSettings)}
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in model.scan (known: {', '.join(sorted(known))})", where)
        checked[key] = _like(getattr(defaults, key), item, f"model.scan.{key}", where)
    try:
        ScanModelSettings(**checked)
    except ValueError as exc:
        raise ConfigError(str(exc), where) from None
    return checked


def _like(default: Any, value: Any, name: str, where: Location) -> Any:
    """``value`` checked against the type of its default (bool, int >= 0, share, word, word list)."""
    if isinstance(default, bool):
        return _bool(value, where)
    if isinstance(default, int):
        return _int(1)(value, where)
    if isinstance(default, float):
        return _share(value, where) if default <= 1 else _finite(value, where)
    if isinstance(default, tuple):
        return _str_list(value, where)
    if isinstance(value, str) and value in RAISE_TO:
        return value
    raise ConfigError(f"{name}: expected monitor, challenge or block, got {value!r}", where)


_ZONE_ID = _pattern(r"[0-9a-f]{32}", "a 32-digit hex zone id")


def _zone_ids(value: Any, where: Location) -> str | tuple[str, ...]:
    """``cloudflare.zone_id``: one zone id, or a non-empty list of distinct ones (several zones)."""
    if not isinstance(value, list):
        return _ZONE_ID(value, where)
    if not value:
        raise ConfigError("expected a zone id or a non-empty list of zone ids, got []", where)
    zones = tuple(_ZONE_ID(item, where) for item in value)
    if len(set(zones)) != len(zones):
        raise ConfigError(f"zone id listed twice: {next(z for z in zones if zones.count(z) > 1)!r}", where)
    return zones


#: A ``deploy.hosts`` entry's name (it is printed in every line about that host).
HOST_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"

_LISTEN = re.compile(r"unix:/[A-Za-z0-9_./-]+|(?:localhost|[0-9.]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})")


def _listen(value: Any, where: Location) -> str:
    """``HOST:PORT`` (IP literal, ``[v6]`` or ``localhost``) or ``unix:/path``: goes into server configs."""
    match = _LISTEN.fullmatch(value) if isinstance(value, str) else None
    port = match.group(1) if match else None
    host = value.rsplit(":", 1)[0].strip("[]") if port else None
    valid = match is not None and (port is None or 0 < int(port) < 65536)
    if valid and host not in (None, "localhost"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            valid = False
    if not valid:
        raise ConfigError(
            f"expected HOST:PORT (an IP address or localhost) or unix:/absolute/path, got {value!r}", where
        )
    return value


def validate_listen(value: str, source: str) -> str:
    """A ``--listen`` value checked as the config key ``serve.listen`` is (``source`` names the option)."""
    return _listen(value, Location(source))


def _between(low: int, high: int) -> Validator:
    def check(value: Any, where: Location) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"expected an integer from {low} to {high}, got {value!r}", where)
        return value

    return check


def _seconds_between(minimum: float, maximum: float) -> Validator:
    def check(value: Any, where: Location) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
            raise ConfigError(
                f"expected a number of seconds from {minimum:.10g} to {maximum:.10g}, got {value!r}", where
            )
        return float(value)

    return check


def _one_of(*choices: str) -> Validator:
    def check(value: Any, where: Location) -> str:
        if value not in choices:
            raise ConfigError(f"expected one of {', '.join(choices)}, got {value!r}", where)
        return str(value)

    return check


_SSH_DIR = re.compile(r"ssh://(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
                      r"(?::(?P<port>\d{1,5}))?(?P<path>/[^\x00-\x20\x7f]*)")  # fmt: skip


def ssh_dir(value: str) -> SshDir | None:
    """The parts of an ``ssh://`` rules directory; None for anything else.

    Examples:
        >>> ssh_dir("ssh://deploy@web4.example:2222/etc/nginx/botguard")
        SshDir(user='deploy', host='web4.example', port=2222, path='/etc/nginx/botguard')
    """
    match = _SSH_DIR.fullmatch(value)
    if match is None or not 0 < int(match["port"] or 22) < 65536:
        return None
    host = match["host"].strip("[]")
    return SshDir(match["user"], host, int(match["port"] or 22), match["path"])


def _absolute_path(value: Any, where: Location) -> str:
    if isinstance(value, str) and value.startswith("/"):
        return value
    raise ConfigError(f"expected an absolute path, got {value!r}", where)


def _rules_dir(value: Any, where: Location) -> str:
    """A host's rules directory: an absolute path (local or a shared mount) or an ssh:// URL."""
    if isinstance(value, str) and (value.startswith("/") or ssh_dir(value) is not None):
        return value
    raise ConfigError(
        f"expected an absolute directory path or ssh://USER@HOST:PORT/PATH, got {value!r}", where
    )


SCHEMA: dict[str, Any] = {
    "policy": {
        "block_min_disallowed": _int(1),
        "block_on_honeypot": _bool,
        "block_categories": _str_list,
        "monitor_categories": _str_list,
        "crawl_delay_tolerance": _share,
        "block_spoofed": _bool,
        "block_verified": _bool,
        "challenge": _challenge_evidence,
        "challenge_min_pages": _int(1),
        "challenge_before_block": _bool,
    },
    "human": {
        "min_asset_share": _share,
        "min_referer_share": _share,
        "max_pages_without_assets": _int(1),
        "min_seconds_per_page": _seconds,
    },
    "honeypots": _path_prefixes,
    "allowlist": {"user_agents": _str_list, "ips": _networks, "clients": _clients},
    "log": {"format": _optional_str, "json_fields": _str_map},
    "decide": {
        "bantime": _duration,
        "bantime_factor": _finite,
        "bantime_max": _duration,
        "throttle_monitor": _bool,
        "throttle_rate": _int(1),
        "throttle_burst": _int(0),
        "challenge_time": _duration,
    },
    "identity": {
        "dns": _bool,
        "dns_timeout": _seconds_up_to(3600, "an hour"),
        "dns_budget": _seconds_up_to(86400, "a day"),
        "dns_concurrency": _int(1),
        "dns_cache_ttl": _seconds,
        "dns_nameservers": _addresses,
        "dns_port": _int(1),
        "max_log_age_days": _int(0),
        "asn_db": _optional_str,
        "country_db": _optional_str,
        "bundled_asn": _bool,
    },
    "cloudflare": {
        "account_id": _pattern(r"[0-9a-f]{32}", "a 32-digit hex account id"),
        "zone_id": _zone_ids,
        "api_token": _pattern(r"\S+", "a token without spaces"),
        "list_name": _pattern(r"[a-z0-9_]{1,50}", "a list name of at most 50 of a-z, 0-9, _"),
        "base_url": _pattern(r"https?://\S+", "an http(s) URL"),
        "guard_bots": _bool,
        "max_rules": _int(1),
    },
    "model": {
        "enabled": _bool,
        "threshold": _share,
        "min_requests": _int(1),
        "min_ips": _int(1),
        "min_ips_named": _int(1),
        "min_requests_single_net": _int(1),
        "lcb": _share,
        "max_human_share": _share,
        "micro_batch_seconds": _micro_batch,
        "delta_interval": _finite,
        "snapshot_every": _finite,
        "auto_deploy": _bool,
        "candidate_ttl": _duration,
        "slots": _model_slots,
        "scan": _model_scan,
        "campaigns": _model_campaigns,
    },
    "serve": {
        "listen": _listen,
        "difficulty": _between(1, 32),
        "cookie_lifetime": _seconds_between(60, 366 * 86400),
        "challenge_lifetime": _seconds_between(10, 86400),
        "bind": _one_of("address", "network"),
        "secret_path": _optional_str,
        "timeout": _seconds_between(0.1, 60),
        "fail_open": _bool,
        "access_log": _optional_str,
    },
    "deploy": {
        "nginx": {"dir": _optional_str, "validate": _argv, "reload": _argv, "probe": _probe_url},
        "apache": {"dir": _optional_str, "validate": _argv, "reload": _argv, "probe": _probe_url},
        "lock": _optional_str,
        "hosts": [
            {
                "name": _pattern(HOST_NAME, "a host name of A-Z, a-z, 0-9, '.', '_', '-'"),
                "server": _one_of("nginx", "apache"),
                "dir": _rules_dir,
                "validate": _argv,
                "reload": _argv,
                "probe": _probe_url,
                "ssh": _argv,
                "botguard": _argv,
                "secret": _absolute_path,
            }
        ],
    },
}

#: Keys each ``deploy.hosts`` entry must have (the others default from ``deploy.<server>``).
_HOST_REQUIRED = ("name", "server", "dir")


# ---------------------------------------------------------------- loading


def _validate_list(node: yaml.Node, item_schema: dict[str, Any], source: str, key_path: str) -> list[Any]:
    """A list of mappings (``deploy.hosts``): each item walked like a section, then the required
    keys and unique names and directories checked, each error naming the item's line."""
    where = Location(source, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{key_path}: expected a list", where)
    items: list[Any] = []
    seen: dict[tuple[str, Any], str] = {}
    for index, item_node in enumerate(node.value):
        item_path, line = f"{key_path}[{index}]", Location(source, item_node.start_mark.line + 1)
        item = _validate(item_node, item_schema, source, item_path)
        missing = [key for key in _HOST_REQUIRED if key not in item]
        if missing:
            raise ConfigError(f"{item_path}: missing {', '.join(missing)}", line)
        for key in ("name", "dir"):
            if (key, item[key]) in seen:
                raise ConfigError(f"{item_path}: {key} {item[key]!r} is also {seen[key, item[key]]}'s", line)
            seen[key, item[key]] = item_path
        items.append(item)
    return items


def _compose(text: str, source: str) -> yaml.Node | None:
    """The file's YAML nodes (each with its line), parsed by libyaml when the install has it:
    PyYAML's own parser costs ~5 ms of every start on the bundled defaults alone. A file either
    parser rejects is parsed again by PyYAML's, whose wording the error messages keep."""
    try:
        return yaml.compose(text, Loader=SafeLoader)
    except yaml.YAMLError:
        pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", Location(source, line)) from None


def _validate(node: yaml.Node, schema: Any, source: str, key_path: str) -> Any:
    """Walk a composed YAML node against the schema, returning plain validated values."""
    where = Location(source, node.start_mark.line + 1)
    if isinstance(schema, list):
        return _validate_list(node, schema[0], source, key_path)
    if isinstance(schema, dict):
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(f"{key_path or 'config'}: expected a mapping", where)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            full_key = f"{key_path}.{key}" if key_path else key
            if key not in schema:
                known = ", ".join(sorted(schema))
                raise ConfigError(
                    f"unknown key '{full_key}' (known: {known})",
                    Location(source, key_node.start_mark.line + 1),
                )
            result[key] = _validate(value_node, schema[key], source, full_key)
        return result
    # A leaf's value as safe_load gives it, constructed from the node already parsed.
    value = yaml.constructor.SafeConstructor().construct_document(node) if node is not None else None
    try:
        return schema(value, where)
    except ConfigError as exc:
        raise ConfigError(f"{key_path}: {exc.message}", exc.source) from None


def _load_file(text: str, source: str) -> dict[str, Any]:
    node = _compose(text, source)
    if node is None:
        return {}
    return _validate(node, SCHEMA, source, "")


def _default_text() -> str:
    return resources.files("botguard.rules").joinpath("policy.yaml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "json_fields":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(config_path: str | Path | None = None) -> Settings:
    """Bundled defaults overlaid with the user's config file (if given); strict validation.

    Examples:
        >>> load_settings().policy.block_min_disallowed
        1
    """
    if config_path is None:
        return parse_settings(None, None)
    source = str(config_path)
    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", Location(source)) from None
    return parse_settings(text, source)


def parse_settings(text: str | None, source: str | None) -> Settings:
    """Bundled defaults overlaid with the configuration document ``text`` (YAML, or JSON, which is
    YAML; ``source`` names it in errors), checked as strictly as a config file: a request that
    carries settings (``receive-rules``) is held to the same rules as the file they came from."""
    values = _load_file(_default_text(), "rules/policy.yaml")
    if text is not None:
        values = _merge(values, _load_file(text, source or "<settings>"))
    allow = values.get("allowlist", {})
    log = values.get("log", {})
    return Settings(
        policy=Policy(**values.get("policy", {})),
        human=HumanRules(**values.get("human", {})),
        honeypots=values.get("honeypots", ()),
        allowlist=Allowlist(
            user_agents=tuple(ua.lower() for ua in allow.get("user_agents", ())),
            networks=allow.get("ips", ()),
            clients=allow.get("clients", ()),
        ),
        log_format=log.get("format"),
        json_fields=log.get("json_fields", {}),
        decide=DecideSettings(**values.get("decide", {})),
        deploy=_deploy_settings(values.get("deploy", {})),
        identity=IdentitySettings(**values.get("identity", {})),
        cloudflare=CloudflareSettings(**values.get("cloudflare", {})),
        model=ModelSettings(**values.get("model", {})),
        serve=ServeSettings(**values.get("serve", {})),
        source=source,
    )


def _deploy_settings(values: dict[str, Any]) -> DeploySettings:
    """Overlay the configured keys on the built-in server commands."""
    defaults = DeploySettings()
    targets = {}
    for name in ("nginx", "apache"):
        base: ServerTarget = getattr(defaults, name)
        given = values.get(name, {})
        targets[name] = ServerTarget(
            dir=given.get("dir", base.dir),
            validate=tuple(given.get("validate", base.validate)),
            reload=tuple(given.get("reload", base.reload)),
            probe=given.get("probe", base.probe),
        )
    hosts = tuple(
        HostTarget(
            name=host["name"],
            server=host["server"],
            dir=host["dir"],
            validate=tuple(host.get("validate", targets[host["server"]].validate)),
            reload=tuple(host.get("reload", targets[host["server"]].reload)),
            probe=host.get("probe"),
            remote=ssh_dir(host["dir"]),
            secret=host.get("secret"),
            **{key: tuple(host[key]) for key in ("ssh", "botguard") if host.get(key)},
        )
        for host in values.get("hosts", ())
    )
    return DeploySettings(
        nginx=targets["nginx"], apache=targets["apache"], lock=values.get("lock"), hosts=hosts
    )
