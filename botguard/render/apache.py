"""Apache 2.4 target: ``botguard.conf`` (include at server or virtual-host level).

Forms from notes/webservers.md section 5, verified against a running apache2:

* UA rules: one ``BrowserMatchNoCase <Form B regex> botguard_block`` per pattern; never packed
  (Apache has no PCRE JIT: alternations cost 0.015x at 10k). Plain tokens stay plain, so
  mod_setenvif uses its fast substring matcher; keep lists under ~1k (0.50x at 1k plain);
* IP rules: ``Require not ip`` with 100 addresses per line (0.54-0.75x at 10k);
* ``<Location "/">`` + ``<RequireAny>``: ``/robots.txt`` and allowlisted clients are granted
  before the ``<RequireAll>`` that denies blocked agents and addresses. A section of the site
  with its own ``Require`` overrides ours (AuthMerging Off): include this file last or merge.
* throttle decisions have no core Apache equivalent; they are counted in a comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from botguard.render.base import Groups, TextRenderer
from botguard.render.records import RuleFile

__all__ = ["APACHE_FILE", "ApacheRenderer"]

APACHE_FILE = "botguard.conf"
IPS_PER_LINE = 100


@dataclass(frozen=True, slots=True)
class ApacheRenderer(TextRenderer):
    """mod_setenvif + mod_authz_core/host; needs those modules (Debian enables them)."""

    name: ClassVar[str] = "apache"

    def finalize(self, groups: Groups) -> tuple[RuleFile, ...]:
        lines = [self.header(groups, "Include at server or <VirtualHost> level.").rstrip("\n")]
        if groups.throttle_ua or groups.throttle_ip:
            lines.append(
                f"# {len(groups.throttle_ua) + len(groups.throttle_ip)} throttle rules are not enforced by Apache."
            )
        lines.append("SetEnvIf Request_URI ^\\x2frobots\\x2etxt$ botguard_robots")
        lines += [f"BrowserMatchNoCase {regex} botguard_block" for regex in groups.block_ua]
        lines += [f"BrowserMatchNoCase {regex} botguard_allow" for regex in groups.allow_ua]
        for n, (ip_regex, ua_regex) in enumerate(groups.allow_client):
            lines.append(f"SetEnvIf Remote_Addr {ip_regex} botguard_allow_ip{n}")
            lines.append(f"SetEnvIfNoCase User-Agent {ua_regex} botguard_allow_ua{n}")
        lines += ['<Location "/">', "    <RequireAny>", "        Require env botguard_robots botguard_allow"]
        lines += [f"        Require ip {' '.join(chunk)}" for chunk in _chunks(groups.allow_ip)]
        for n in range(len(groups.allow_client)):
            lines += ["        <RequireAll>", f"            Require env botguard_allow_ip{n}",
                      f"            Require env botguard_allow_ua{n}", "        </RequireAll>"]  # fmt: skip
        lines += [
            "        <RequireAll>",
            "            Require all granted",
            "            Require not env botguard_block",
        ]
        lines += [f"            Require not ip {' '.join(chunk)}" for chunk in _chunks(groups.block_ip)]
        lines += ["        </RequireAll>", "    </RequireAny>", "</Location>"]
        return (RuleFile(APACHE_FILE, "\n".join(lines) + "\n"),)


def _chunks(values: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [values[i : i + IPS_PER_LINE] for i in range(0, len(values), IPS_PER_LINE)]
