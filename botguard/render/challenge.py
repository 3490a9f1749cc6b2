"""Server files for the challenge tier: pure functions of (challenged clients, settings, keyring).

Challenged clients without a valid pass go to serve; everyone else is untouched; ``/robots.txt``,
``/.botguard/`` and allowlisted clients are never challenged. :func:`challenge_targets` reads them
from a decision set (its ``challenge`` decisions and its allowlist) and :class:`ChallengeRenderer`
is the files of one server as a renderer of decision sets, registered beside that server's
block renderer when :func:`botguard.render.renderers` is given the keyring, so deploy-rules
checks, swaps, reloads and rolls them back together. The servers check passes themselves (nginx
``secure_link``, Apache ``sha1()`` in ``SetEnvIfExpr``), so a client that passed costs no call to
Python. The files carry every key of the keyring (rotation overlap) and so are secrets: write
them with :func:`write_files` (mode 0600; nginx and Apache read configs as root).

Fail-open, verified on the real servers (tests/serve/test_servers.py):

* nginx: the challenge runs as an ``internal`` location proxied to serve with short timeouts; on
  500/502/503/504 ``error_page`` goes to ``@botguard_open``, which re-runs location matching on the
  original URI (``rewrite ... last`` does not re-run server-level rewrites). Later internal
  redirects (``index``, ``try_files``) do re-run them; the ``volatile`` map
  ``$botguard_challenge_go`` is 0 once ``$upstream_addr`` shows serve was already tried.
* Apache: mod_rewrite ``[P]`` proxies to serve (``r->uri`` unchanged); on 500/502/503/504 an
  ``ErrorDocument`` scoped to those requests redirects internally to ``/.`` + the escaped URI (the
  same resource after path normalisation), and the challenge rule skips internal redirects
  (``REDIRECT_STATUS``). Apache keeps an ErrorDocument's status, so the content arrives with
  the 5xx status serve's failure caused (a browser shows it as usual).

Both fall back by an internal redirect, so what a site admits for internal redirects only (nginx
``internal`` locations, Apache rules on ``REDIRECT_STATUS``) is open to a challenged client while
serve is down (tests/serve/test_fail_open_internal.py, a strict xfail; the README says so).
``serve.fail_open: false`` answers them 503 instead (nginx's named location returns it; Apache
keeps the proxy's error), so nothing is reached by a redirect back.

Client addresses come from ``$remote_addr`` / ``%{REMOTE_ADDR}``: these files never read
``X-Forwarded-For`` (set up realip / remoteip in the site, for trusted proxies only).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path

from botguard.addresses import AddressError, rule_address
from botguard.config import ServeSettings
from botguard.decide.records import Decision, DecisionSet, Match
from botguard.keyring import Keyring, write_private
from botguard.render._escape import RenderError
from botguard.render.apache import ApacheRenderer, flag, pair_flag
from botguard.render.nginx import NginxRenderer
from botguard.render.records import ChallengeTargets, RuleFile

__all__ = [
    "APACHE_FILE",
    "APACHE_ROUTING_MODULES",
    "NGINX_HTTP_FILE",
    "NGINX_SERVER_FILE",
    "ChallengeRenderer",
    "challenge_targets",
    "render_apache",
    "render_nginx",
    "routes_back",
    "write_files",
]

NGINX_HTTP_FILE = "botguard_challenge_http.conf"
NGINX_SERVER_FILE = "botguard_challenge_server.conf"
APACHE_FILE = "botguard_challenge.conf"
#: Addresses per Apache ``SetEnvIfExpr`` line (``-R 'net' || ...``).
NETS_PER_LINE = 50
_HEADERS = (
    ("X-Botguard-Bind", "$botguard_bind", "%{ENV:botguard_bind}"),
    ("X-Botguard-UA", "$http_user_agent", "%{HTTP_USER_AGENT}"),
    ("X-Botguard-Client", "$remote_addr", "%{REMOTE_ADDR}"),
    ("X-Botguard-Scheme", "$scheme", "%{REQUEST_SCHEME}"),
)


def challenge_targets(decisions: DecisionSet) -> ChallengeTargets:
    """Who a decision set challenges (its ``challenge`` decisions) and who it exempts (its allow
    decisions); an address no rule may name is left out, as the block renderers leave it out."""

    def address(decision: object) -> str | None:
        try:
            return rule_address(decision)  # type: ignore[arg-type]
        except AddressError:
            return None

    def values(action: str, kind: str) -> tuple[str, ...]:
        return tuple(d.match.value for d in decisions.select(action, kind))

    def networks(action: str) -> tuple[str, ...]:
        return tuple(a for d in decisions.select(action, "ip", "cidr") if (a := address(d)))

    def pairs(action: str) -> tuple[tuple[str, str], ...]:
        return tuple((a, d.match.value) for d in decisions.select(action, "client") if (a := address(d)))

    return ChallengeTargets(
        networks=networks("challenge"), agents=values("challenge", "ua_exact"),
        tokens=values("challenge", "ua_pattern"), clients=pairs("challenge"),
        allow_agents=values("allow", "ua_pattern"), allow_networks=networks("allow"),
        allow_clients=pairs("allow"),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChallengeRenderer:
    """The challenge files of one server (``nginx`` or ``apache``) as a renderer of decision sets."""

    server: str
    settings: ServeSettings
    keyring: Keyring

    @property
    def name(self) -> str:
        return self.server

    def render(self, decisions: DecisionSet) -> tuple[RuleFile, ...]:
        render = render_nginx if self.server == "nginx" else render_apache
        return render(challenge_targets(decisions), self.settings, self.keyring)


def _networks(values: tuple[str, ...]) -> list[str]:
    nets = set()
    for value in values:
        try:
            nets.add(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise RenderError(f"not an IP address or CIDR range: {value[:60]!r}") from None
    ordered = sorted(nets, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return [str(n.network_address) if n.num_addresses == 1 else str(n) for n in ordered]


def _agent_regexes(
    agents: tuple[str, ...], tokens: tuple[str, ...], renderer: NginxRenderer | ApacheRenderer
) -> list[str]:
    """Form-B escaped, case-insensitive regexes (the block renderers' rule): anchored for exact
    agents, bare for substrings."""
    exact = [renderer.ua_regex(Decision("challenge", Match("ua_exact", a))) for a in agents]
    parts = [renderer.ua_regex(Decision("challenge", Match("ua_pattern", t))) for t in tokens]
    return list(dict.fromkeys(exact + parts))


def _pair_regexes(
    pairs: tuple[tuple[str, str], ...], renderer: NginxRenderer | ApacheRenderer
) -> tuple[tuple[str, str], ...]:
    """(address regex, anchored agent regex) per exact (address, agent) pair."""
    out = []
    for ip, agent in pairs:
        try:
            ip_regex = renderer.ip_regex(ip.strip())
        except ValueError:
            raise RenderError(f"not an IP address: {ip[:60]!r}") from None
        out.append((ip_regex, renderer.ua_regex(Decision("challenge", Match("client", agent, ip)))))
    return tuple(dict.fromkeys(out))


def _allows(targets: ChallengeTargets) -> bool:
    return bool(targets.allow_agents or targets.allow_networks or targets.allow_clients)


def _header(targets: ChallengeTargets, ring: Keyring, hint: str) -> str:
    counts = [(len(_networks(targets.networks)), "networks"), (len(set(targets.agents)), "agents")]
    more = (
        (len(set(targets.tokens)), "agent substrings"),
        (len(set(targets.clients)), "address+agent pairs"),
    )
    counts += [(n, what) for n, what in more if n]
    exempt = len(targets.allow_agents) + len(targets.allow_networks) + len(targets.allow_clients)
    return (
        "# Generated by botguard (challenge tier): do not edit, the next run overwrites it.\n"
        f"# {', '.join(f'{n} {what}' for n, what in counts)} challenged; "
        + (f"{exempt} allowlist entries exempt; " if exempt else "")
        + f"{len(ring.keys)} keys. {hint}\n"
        "# Holds the pass secrets: keep it readable by root only (mode 0600).\n"
    )


def _upstream(listen: str) -> tuple[str, str]:
    """(nginx ``server`` argument, Apache proxy URL prefix) for serve's listen address."""
    if listen.startswith("unix:"):
        return listen, f"{listen}|http://localhost"
    return listen, f"http://{listen}"


def _block(head: str, lines: list[str]) -> str:
    """``head {`` + indented lines + ``}``."""
    return head + " {\n" + "".join(f"    {line}\n" for line in lines) + "}\n"


def _nginx_http(targets: ChallengeTargets, settings: ServeSettings, ring: Keyring) -> str:
    nginx = NginxRenderer()
    tokens = tuple(_agent_regexes((), targets.tokens, nginx))
    agents = nginx.exact_alternations(dict.fromkeys(targets.agents), "~*")
    agents += nginx.alternations(tokens, "~*") if tokens else []
    bind = ["default $remote_addr;"]
    if settings.bind == "network":  # IPv4 /24; IPv6 /64 when its first four groups are written out
        bind += ["~^(\\d+\\.\\d+\\.\\d+)\\.\\d+$ $1;", "~^([0-9a-f]+:[0-9a-f]+:[0-9a-f]+:[0-9a-f]+): $1;"]
    nets = _networks(targets.networks)
    clients = _pair_regexes(targets.clients, nginx)
    ua, check = "$botguard_challenge_ua", "$botguard_challenge_check"
    # each client pair: only for agents no rule above matched (a variable's value is lazy)
    ua_default = "$botguard_challenge_client" if clients else "0"
    allowed, exempt = _nginx_allowed(targets, nginx)
    return "\n".join([
        _header(targets, ring, "Include inside http {}."),
        _block("upstream botguard_serve", [f"server {_upstream(settings.listen)[0]};", "keepalive 8;"]),
        _block("geo $remote_addr $botguard_challenge_ip", ["default 0;", *(f"{n} 1;" for n in nets)]),
        _block("map $http_user_agent $botguard_challenge_ua",
               [f"default {ua_default};", *(f"{a} 1;" for a in agents)]),
        *([nginx.client_map("botguard_challenge_client", clients)] if clients else []),
        _block("map $remote_addr $botguard_bind", bind),
        _block("map $cookie_bg_k $botguard_secret",
               [f"default {ring.keys[0].secret};", *(f"{k.id} {k.secret};" for k in ring.keys)]),
        "# regexes: map's plain strings ignore case, a path does not (Apache matches it the same)\n"
        + _block("map $uri $botguard_challenge_exempt",
               ["default 0;", "~^/robots\\.txt$ 1;", "~^/\\.botguard/ 1;"]),
        *allowed,
        "# Chained so each request pays only for what it needs: the agent regex only for addresses\n"
        "# outside the set, the pass (md5) only for challenged clients; a variable value is lazy.\n"
        + _block("map $botguard_challenge_ip $botguard_challenged", ["1 1;", f"default {ua};"]),
        _block("map $botguard_challenged $botguard_challenge_need", ["default 0;", f"1 {check};"]),
        exempt,
        "# Re-evaluated on every internal redirect: once serve was tried ($upstream_addr), never again.\n"
        + _block('map "$botguard_challenge_need$upstream_addr" $botguard_challenge_go',
                 ["volatile;", "default 0;", "1 1;"]),
    ])  # fmt: skip


def _nginx_allowed(targets: ChallengeTargets, nginx: NginxRenderer) -> tuple[list[str], str]:
    """The allowlist's maps (none without one) and the map that decides a challenge: not exempt,
    not allowlisted, and ``$secure_link`` "" (no or a bad pass) or "0" (expired)."""
    if not _allows(targets):
        return [], '# not exempt, and $secure_link "" (no or a bad pass) or "0" (expired)\n' + _block(
            'map "$botguard_challenge_exempt$secure_link" $botguard_challenge_check',
            ["default 0;", "0 1;", "00 1;"],
        )
    agents = tuple(
        dict.fromkeys(nginx.ua_regex(Decision("allow", Match("ua_pattern", a))) for a in targets.allow_agents)
    )
    maps = [
        "# the allowlist always wins (evaluated only for challenged clients)\n"
        + nginx.ua_map("botguard_challenge_allow_ua", agents),
        nginx.geo("botguard_challenge_allow_ip", tuple(_networks(targets.allow_networks))),
        nginx.client_map("botguard_challenge_allow_client", _pair_regexes(targets.allow_clients, nginx)),
        _block('map "$botguard_challenge_allow_ua$botguard_challenge_allow_ip'
               '$botguard_challenge_allow_client" $botguard_challenge_allowed', ["default 1;", "000 0;"]),
    ]  # fmt: skip
    check = (
        '# not allowlisted, not exempt, and $secure_link "" (no or a bad pass) or "0" (expired)\n'
        + _block(
            'map "$botguard_challenge_allowed$botguard_challenge_exempt$secure_link"'
            " $botguard_challenge_check",
            ["default 0;", "00 1;", "000 1;"],
        )
    )
    return maps, check


def _nginx_server(targets: ChallengeTargets, settings: ServeSettings, ring: Keyring) -> str:
    timeout = round(settings.timeout * 1000)
    proxy = [
        "proxy_pass http://botguard_serve;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        *(f"proxy_set_header {name} {nginx};" for name, nginx, _ in _HEADERS),
        f"proxy_connect_timeout {round(min(settings.timeout, 0.5) * 1000)}ms;",
        f"proxy_send_timeout {timeout}ms;",
        f"proxy_read_timeout {timeout}ms;",
    ]
    gate = [
        "internal;",
        *proxy,
        "proxy_set_header X-Botguard-Request $request;",
        "proxy_pass_request_body off;",
        'proxy_set_header Content-Length "";',
        "proxy_intercept_errors on;",
        "error_page 500 502 503 504 = @botguard_open;",
    ]
    return "\n".join([
        _header(targets, ring, "Include inside every server {}, after realip if the site uses it."),
        "secure_link $cookie_bg_h,$cookie_bg_e;\n"
        'secure_link_md5 "$secure_link_expires|$botguard_bind|$http_user_agent|$botguard_secret";\n',
        _block("if ($botguard_challenge_go)", ["set $botguard_uri $uri;", "rewrite ^ /.botguard/gate last;"]),
        _block("location ^~ /.botguard/", [*proxy, 'proxy_set_header X-Botguard-Request "";']),
        _block("location = /.botguard/gate", gate),
        _nginx_open(settings),
    ])  # fmt: skip


#: The first line of the fail-open step in the routing files (:func:`routes_back` looks for it).
_ROUTES_BACK = "# serve is down or slow: the original"


def routes_back(files: tuple[RuleFile, ...]) -> bool:
    """Whether these files hold challenge routing that fails open, by an internal redirect back to
    the original request (what a site's internal-only paths admit too)."""
    names = (NGINX_SERVER_FILE, APACHE_FILE)
    return any(f.name in names and _ROUTES_BACK in f.text for f in files)


def _nginx_open(settings: ServeSettings) -> str:
    """Where the gate goes when serve fails: the original request, or 503 (``fail_open: false``)."""
    if settings.fail_open:
        return f"{_ROUTES_BACK} request, as if it had not been challenged.\n" + _block(
            "location @botguard_open", ["rewrite ^ $botguard_uri last;"]
        )
    return "# serve is down or slow: 503 until it answers (serve.fail_open: false).\n" + _block(
        "location @botguard_open", ["add_header Retry-After 60 always;", "return 503;"]
    )


def render_nginx(targets: ChallengeTargets, settings: ServeSettings, ring: Keyring) -> tuple[RuleFile, ...]:
    """The ``http {}`` file and the file for each ``server {}``."""
    return (
        RuleFile(NGINX_HTTP_FILE, _nginx_http(targets, settings, ring), secret=True),
        RuleFile(NGINX_SERVER_FILE, _nginx_server(targets, settings, ring), secret=True),
    )


def _apache_matches(targets: ChallengeTargets, settings: ServeSettings, ring: Keyring) -> list[str]:
    """The env variables: botguard_challenged, _exempt, _serve, botguard_bind and botguard_pass."""
    apache = ApacheRenderer()
    nets = _networks(targets.networks)
    lines = []
    for start in range(0, len(nets), NETS_PER_LINE):
        expr = " || ".join(f"-R '{net}'" for net in nets[start : start + NETS_PER_LINE])
        lines.append(f'SetEnvIfExpr "{expr}" botguard_challenged')
    regexes = _agent_regexes(targets.agents, targets.tokens, apache)
    lines += [f"BrowserMatchNoCase {r} botguard_challenged" for r in regexes]
    lines += pair_flag("botguard_challenged", _pair_regexes(targets.clients, apache))
    if _allows(targets):  # the allowlist always wins
        agents = tuple(
            dict.fromkeys(
                apache.ua_regex(Decision("allow", Match("ua_pattern", a))) for a in targets.allow_agents
            )
        )
        lines += flag("botguard_challenge_allow", agents, tuple(_networks(targets.allow_networks)))
        lines += pair_flag("botguard_challenge_allow", _pair_regexes(targets.allow_clients, apache))
    lines += ["SetEnvIf Remote_Addr ^(.*)$ botguard_bind=$1"]
    if settings.bind == "network":
        lines += [
            "SetEnvIf Remote_Addr ^(\\d+\\.\\d+\\.\\d+)\\.\\d+$ botguard_bind=$1",
            "SetEnvIf Remote_Addr ^([0-9a-f]+:[0-9a-f]+:[0-9a-f]+:[0-9a-f]+): botguard_bind=$1",
        ]
    for key in ring.keys:
        cookie = f"%{{HTTP_COOKIE}} =~ /(?:^|;)\\s*bgpass={key.id}-([0-9]{{14}})-([0-9a-f]{{40}})(?:;|$)/"
        digest = f"sha1('$1|%{{ENV:botguard_bind}}|%{{HTTP_USER_AGENT}}|{key.secret}') == '$2'"
        lines.append(f'SetEnvIfExpr "{cookie} && $1 -gt %{{TIME}} && {digest}" botguard_pass')
    return lines


#: Modules the Apache routing needs beyond setenvif (which the block rules need too), by their
#: ``a2enmod`` names; the file checks all but proxy, which proxy_http implies.
APACHE_ROUTING_MODULES = ("rewrite", "proxy", "proxy_http", "headers")
_IF_MODULES = tuple(f"{m}_module" for m in APACHE_ROUTING_MODULES if m != "proxy")


def render_apache(targets: ChallengeTargets, settings: ServeSettings, ring: Keyring) -> tuple[RuleFile, ...]:
    """``botguard_challenge.conf`` (server or ``<VirtualHost>`` level)."""
    _, url = _upstream(settings.listen)
    connect = max(1, round(min(settings.timeout, 0.5) * 1000))
    worker = f"connectiontimeout={connect}ms timeout={max(1, math.ceil(settings.timeout))} retry=0"
    back = "/.%{escape:%{REQUEST_URI}}?%{QUERY_STRING}"
    hint = "Include at server or <VirtualHost> level; needs setenvif, rewrite, proxy, proxy_http, headers."
    lines = [
        _header(targets, ring, hint).rstrip("\n"),
        "# Without rewrite, proxy_http or headers the challenge is off (the content is served, as when",
        "# serve is down) and the block rules still deploy: a2enmod rewrite proxy proxy_http headers.",
        *(f"<IfModule {module}>" for module in _IF_MODULES),
        *_apache_matches(targets, settings, ring),
        f'ProxyPass "/.botguard/" "{url}/.botguard/" {worker}',
        "RewriteEngine On",
        "# paths by mod_rewrite, which sees them decoded and normalised (SetEnvIf sees the raw",
        "# request: /.botguard/../x would be exempt, and /%2ebotguard/ would reach serve without headers)",
        "RewriteRule ^/robots\\.txt$ - [E=botguard_challenge_exempt:1]",
        "RewriteRule ^/\\.botguard/ - [E=botguard_challenge_exempt:1,E=botguard_serve:1]",
        "RewriteCond %{ENV:botguard_challenged} =1",
        "RewriteCond %{ENV:botguard_challenge_exempt} !=1",
        "RewriteCond %{ENV:botguard_pass} !=1",
        *(["RewriteCond %{ENV:botguard_challenge_allow} !=1"] if _allows(targets) else []),
        "RewriteCond %{ENV:REDIRECT_STATUS} ^$",
        f"RewriteRule ^ {url}/.botguard/gate [P,E=botguard_gate:1,E=botguard_serve:1]",
        *(f'RequestHeader set {name} "expr={apache}" env=botguard_serve' for name, _, apache in _HEADERS),
        'RequestHeader set X-Botguard-Request "expr=%{THE_REQUEST}" env=botguard_gate',
        *(_apache_open(back) if settings.fail_open else _APACHE_CLOSED),
        *("</IfModule>" for _ in _IF_MODULES),
    ]
    return (RuleFile(APACHE_FILE, "\n".join(lines) + "\n", secret=True),)


def _apache_open(back: str) -> list[str]:
    return [
        f"{_ROUTES_BACK} URI again (/./x is /x), which the rule above skips.",
        "<If \"reqenv('botguard_gate') == '1'\">",
        *(f"    ErrorDocument {code} {back}" for code in (500, 502, 503, 504)),
        "</If>",
    ]


#: ``serve.fail_open: false``: the proxy's own error (503 when serve is down, 504 when it is slow).
_APACHE_CLOSED = ["# serve is down or slow: the proxy's error until it answers (serve.fail_open: false)."]


def write_files(directory: str | Path, files: tuple[RuleFile, ...]) -> None:
    """Write each file atomically with mode 0600 (they carry the pass secrets)."""
    for rule_file in files:
        write_private(Path(directory) / rule_file.name, rule_file.text)
