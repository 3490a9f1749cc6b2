"""RFC 9309 robots.txt engine that decides exactly as Google's reference parser.

Public door: :class:`RobotsTxt` (parse once, ask many) and the records its answers and lint
findings are (:class:`Permission`, :class:`LintFinding`). Fetching, history, lint and generation
live in their own modules of this package.
"""

from botguard.robots.parser import RobotsTxt
from botguard.robots.records import LintFinding, Permission

__all__ = ["LintFinding", "Permission", "RobotsTxt"]
