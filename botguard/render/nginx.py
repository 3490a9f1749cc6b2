"""nginx target: ``botguard_http.conf`` (inside ``http {}``), ``botguard_server.conf`` (each ``server {}``).

Forms from notes/webservers.md section 3, all verified against a running nginx:

* UA rules: ``map $http_user_agent`` with ``~*(?:a|b|...)`` alternations of Form B regexes,
  each token <= 3.8 KB (nginx rejects ~4 KB); needs ``pcre_jit on;`` in the main context
  for large lists (10k tokens: 0.72x of bare nginx with JIT, 0.0016x without);
* IP rules: ``geo`` (radix tree, free at 10k entries);
* one decision variable per action from a composite ``map`` key
  ``$botguard_robots$botguard_allowed$ua$ip``: ``/robots.txt`` and allowlisted clients are
  never blocked, whatever else matches;
* server level ``if ($botguard_block) { return 403; }`` (runs before location selection,
  the one safe use of ``if``) and ``limit_req`` keyed by ``$botguard_limit`` (empty = not
  limited) with status 429.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from botguard.render.base import Groups, TextRenderer
from botguard.render.records import RuleFile

__all__ = ["HTTP_FILE", "SERVER_FILE", "NginxRenderer"]

HTTP_FILE = "botguard_http.conf"
SERVER_FILE = "botguard_server.conf"

#: The map key of the one path every client may fetch. A regex: map's plain strings ignore case,
#: but a path does not (``/ROBOTS.TXT`` is another resource; RFC 9309 names ``/robots.txt``),
#: and Apache's ``SetEnvIf Request_URI`` matches it case-sensitively too.
_ROBOTS_KEY = "~^/robots\\.txt$"

#: Composite keys (robots, allowed, ua, ip) that mean "apply the action".
_HIT_KEYS = ("0001", "0010", "0011")


@dataclass(frozen=True, slots=True)
class NginxRenderer(TextRenderer):
    """Throttle: ``rate`` requests/s per client address, ``burst`` extra before 429."""

    rate: int = 2
    burst: int = 4
    name: ClassVar[str] = "nginx"

    def finalize(self, groups: Groups) -> tuple[RuleFile, ...]:
        http = [
            self.header(groups, "Include inside http {}; set `pcre_jit on;` in the main context."),
            "map $uri $botguard_robots {\n    default 0;\n    " + _ROBOTS_KEY + " 1;\n}\n",
            self.ua_map("botguard_ua", groups.block_ua),
            self.geo("botguard_ip", groups.block_ip),
            self.ua_map("botguard_throttle_ua", groups.throttle_ua),
            self.geo("botguard_throttle_ip", groups.throttle_ip),
            self.ua_map("botguard_allow_ua", groups.allow_ua),
            self.geo("botguard_allow_ip", groups.allow_ip),
            self.client_map("botguard_allow_client", groups.allow_client),
            (
                'map "$botguard_allow_ua$botguard_allow_ip$botguard_allow_client" $botguard_allowed {\n'
                "    default 1;\n    000 0;\n}\n"
            ),
            self._verdict_map("botguard_block", "$botguard_ua$botguard_ip", "0", "1"),
            self._verdict_map(
                "botguard_limit", "$botguard_throttle_ua$botguard_throttle_ip", '""', "$binary_remote_addr"
            ),
            f"limit_req_zone $botguard_limit zone=botguard_throttle:10m rate={self.rate}r/s;\n",
        ]
        server = [
            self.header(groups, "Include inside every server {} (not inherited across servers)."),
            "if ($botguard_block) {\n    return 403;\n}\n",
            f"limit_req zone=botguard_throttle burst={self.burst} nodelay;\n",
            "limit_req_status 429;\n",
        ]
        return (RuleFile(HTTP_FILE, "\n".join(http)), RuleFile(SERVER_FILE, "\n".join(server)))

    def ua_map(self, variable: str, regexes: tuple[str, ...]) -> str:
        """``$variable`` is 1 for an agent any of the (escaped) regexes matches, case-insensitively."""
        lines = [f"map $http_user_agent ${variable} {{", "    default 0;"]
        lines += [f"    {token} 1;" for token in self.alternations(regexes, "~*")] if regexes else []
        return "\n".join(lines) + "\n}\n"

    @staticmethod
    def geo(variable: str, networks: tuple[str, ...]) -> str:
        """``$variable`` is 1 for a client address in one of the (canonical) networks."""
        lines = [f"geo $remote_addr ${variable} {{", "    default 0;"] + [f"    {net} 1;" for net in networks]
        return "\n".join(lines) + "\n}\n"

    @staticmethod
    def client_map(variable: str, clients: tuple[tuple[str, str], ...]) -> str:
        """``$variable`` is 1 for one of the exact (address regex, agent regex) pairs (:meth:`group`)."""
        lines = [f'map "$remote_addr $http_user_agent" ${variable} {{', "    default 0;"]
        for ip_regex, ua_regex in clients:  # "IP UA" anchored: ^ip$ + ^ua -> ^ip\x20ua
            lines.append(f"    ~*{ip_regex[:-1]}\\x20{ua_regex[1:]} 1;")
        return "\n".join(lines) + "\n}\n"

    @staticmethod
    def _verdict_map(variable: str, match_vars: str, off: str, on: str) -> str:
        lines = [f'map "$botguard_robots$botguard_allowed{match_vars}" ${variable} {{', f"    default {off};"]
        lines += [f"    {key} {on};" for key in _HIT_KEYS]
        return "\n".join(lines) + "\n}\n"
