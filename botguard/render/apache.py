"""Apache 2.4 target: ``botguard.conf`` (include at the end of a virtual host, or server-wide).

botguard may only take access away, never grant it, so the file holds no ``Require`` that can
pass: a ``<Location "/">`` with its own ``Require all granted`` replaces the site's authorization
below it (``AuthMerging Off`` is Apache's default) and opens denied and password-protected
directories. Instead, mod_setenvif flags the request and one ``<If>`` holds the only
authorization directive, ``Require all denied``:

* ``botguard_block``: one ``BrowserMatchNoCase <Form B regex>`` per UA pattern (never packed:
  Apache has no PCRE JIT; plain tokens keep mod_setenvif's fast substring matcher) and
  ``SetEnvIfExpr "-R 'cover' && (-R 'net' || ...)"`` for addresses, 100 sorted networks per
  line behind the smallest network covering them: a client outside ``cover`` costs one test
  for the line, not 100 (10k addresses: 0.8-1.0x of bare Apache; ``Require not ip`` 0.57-0.70x);
* ``botguard_robots`` / ``botguard_allow``: ``/robots.txt`` and allowlisted agents, addresses
  and (address, agent) pairs; they exempt a client from botguard's denial, nothing more, so
  the site's own rules still apply to them;
* ``<If "flagged and not exempt"> Require all denied </If>``: ``<If>`` sections are merged after
  every ``<Directory>``, ``.htaccess`` and ``<Location>``, so those sections of the site cannot
  drop the denial, and a request that is not flagged keeps exactly the site's rules. A site
  ``<If>`` merged after this one (a virtual host's after a server-wide include, or one nested in
  a section) replaces it with its own ``Require``, and ``Satisfy Any`` skips authorization for
  ``Allow``-ed addresses: the README names both and what to write instead.

Rejected alternatives: ``AuthMerging And`` on the ``<Location>`` still needs a ``Require`` that
grants, and ANDed with a site section that evaluates to neutral (a non-authoritative provider)
that grant opens the path; any site ``<Location>`` merged after it (server-wide include) drops
botguard's rules there. mod_rewrite ``[F]`` is not enabled by default on Debian, is not
inherited by virtual hosts, is skipped after a site rule with ``[L]`` and matches networks only
through the same expressions.
Throttle decisions have no core Apache equivalent; they are counted in a comment.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from botguard.render.base import Groups, TextRenderer
from botguard.render.records import RuleFile

__all__ = ["APACHE_FILE", "ApacheRenderer", "flag", "pair_flag"]

APACHE_FILE = "botguard.conf"
IPS_PER_LINE = 100
DENY = (
    "<If \"-n reqenv('botguard_block') && -z reqenv('botguard_robots') && -z reqenv('botguard_allow')\">\n"
    "    Require all denied\n"
    "</If>"
)


@dataclass(frozen=True, slots=True)
class ApacheRenderer(TextRenderer):
    """mod_setenvif + core ``<If>`` + mod_authz_core; all enabled by default on Debian."""

    name: ClassVar[str] = "apache"

    def finalize(self, groups: Groups) -> tuple[RuleFile, ...]:
        lines = [self.header(groups, "Include at the end of a <VirtualHost>, or server-wide.").rstrip("\n")]
        if throttles := len(groups.throttle_ua) + len(groups.throttle_ip):
            lines.append(f"# {throttles} throttle rules are not enforced by Apache.")
        lines.append("SetEnvIf Request_URI ^\\x2frobots\\x2etxt$ botguard_robots")
        lines += flag("botguard_block", groups.block_ua, groups.block_ip)
        lines += flag("botguard_allow", groups.allow_ua, groups.allow_ip)
        lines += pair_flag("botguard_allow", groups.allow_client)
        lines.append(DENY)
        return (RuleFile(APACHE_FILE, "\n".join(lines) + "\n"),)


def pair_flag(variable: str, clients: tuple[tuple[str, str], ...]) -> list[str]:
    """Lines setting ``variable`` for exact (address regex, agent regex) pairs: each half flags its
    own numbered variable, an expression needs both."""
    lines = []
    for n, (ip_regex, ua_regex) in enumerate(clients):
        lines += [
            f"SetEnvIf Remote_Addr {ip_regex} {variable}_ip{n}",
            f"SetEnvIfNoCase User-Agent {ua_regex} {variable}_ua{n}",
            f"SetEnvIfExpr \"-n reqenv('{variable}_ip{n}') && -n reqenv('{variable}_ua{n}')\" {variable}",
        ]
    return lines


def flag(variable: str, ua_regexes: tuple[str, ...], networks: tuple[str, ...]) -> list[str]:
    """Lines setting ``variable`` for these agents and networks (sorted, ipaddress-normalised)."""
    lines = [f"BrowserMatchNoCase {regex} {variable}" for regex in ua_regexes]
    for chunk in _chunks(networks):
        expr = " || ".join(f"-R '{net}'" for net in chunk)
        if len(chunk) > 1 and (guard := _cover(chunk)):
            expr = f"-R '{guard}' && ({expr})"
        lines.append(f'SetEnvIfExpr "{expr}" {variable}')
    return lines


def _chunks(networks: tuple[str, ...]) -> list[list[str]]:
    """Runs of at most ``IPS_PER_LINE`` networks of one IP version, in the given (sorted) order."""
    chunks: list[list[str]] = []
    for net in networks:
        if not chunks or len(chunks[-1]) == IPS_PER_LINE or _version(net) != _version(chunks[-1][0]):
            chunks.append([])
        chunks[-1].append(net)
    return chunks


def _version(network: str) -> int:
    return ipaddress.ip_network(network).version


def _cover(chunk: list[str]) -> str | None:
    """The smallest network containing every network of a sorted chunk (the first starts lowest);
    None for a whole address space, which ``-R`` rejects (``/0``) and which would filter nothing."""
    nets = [ipaddress.ip_network(net) for net in chunk]
    low = int(nets[0].network_address)
    high = max(int(net.broadcast_address) for net in nets)
    prefix = nets[0].max_prefixlen - (low ^ high).bit_length()
    return str(nets[0].supernet(new_prefix=prefix)) if prefix else None
