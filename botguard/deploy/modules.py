"""Does the live Apache load what the challenge routing needs?

The routing file sits inside ``<IfModule>`` for rewrite, proxy_http and headers, so an Apache
without them validates and reloads fine and the challenge is silently off: challenged clients get
the content, as when serve is down. After a deploy, the target's own validate command is run
again with ``-D DUMP_MODULES`` (``apache2ctl -t`` and ``apache2 -d ... -f ... -t`` both pass it
on), which lists the modules the site's configuration loads; a missing one is one warning line
naming the fix. A validate command whose output lists no modules (a wrapper, another server)
says nothing, and nothing here ever stops a deploy: the block rules do not need these modules.
"""

from __future__ import annotations

import re
import subprocess

from botguard.deploy._command import run
from botguard.deploy.records import Target
from botguard.render.challenge import APACHE_FILE, APACHE_ROUTING_MODULES
from botguard.render.records import RuleFile

__all__ = ["loaded_modules", "routing_warnings"]

#: Seconds the module listing may take (it parses the whole configuration, as validate does).
_TIMEOUT = 60
_MODULE_LINE = re.compile(r"^\s+(\w+)_module \((?:static|shared)\)$", re.M)


def loaded_modules(validate: tuple[str, ...]) -> frozenset[str] | None:
    """The modules Apache loads with the configuration ``validate`` checks (``rewrite``,
    ``proxy_http`` ...), or None when the command lists none (it cannot tell)."""
    if not validate:
        return None
    try:
        done = run([*validate, "-D", "DUMP_MODULES"], _TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = frozenset(_MODULE_LINE.findall(done.stdout))
    return found or None


def routing_warnings(target: Target, files: tuple[RuleFile, ...]) -> tuple[str, ...]:
    """One line when ``target`` is an Apache carrying the challenge routing without the modules
    it needs; none otherwise (nginx, no routing, or modules unknown)."""
    if target.renderer.name != "apache" or not any(f.name == APACHE_FILE for f in files):
        return ()
    loaded = loaded_modules(target.validate)
    if loaded is None:
        return ()
    missing = [m for m in APACHE_ROUTING_MODULES if m not in loaded]
    if not missing:
        return ()
    return (
        f"{target.name}: Apache does not load {', '.join(missing)}: the challenge routing is off there "
        f"(challenged clients get the content; the block rules apply); enable them with "
        f"`a2enmod {' '.join(missing)}` and reload Apache",
    )
