"""RFC 9309 robots.txt engine that decides exactly as Google's reference parser.

Public door: :class:`RobotsTxt` (parse once, ask many), the records it returns, and
:func:`path_params_query` (the URL-to-path step, exposed so scan can group requests by path).
Fetching, history, lint and generation live in their own modules of this package.
"""

from botguard.robots._matcher import path_params_query
from botguard.robots.parser import RobotsTxt, agent_token
from botguard.robots.records import Group, LintFinding, Permission, RobotsParseStats, Rule

__all__ = [
    "Group",
    "LintFinding",
    "Permission",
    "RobotsParseStats",
    "RobotsTxt",
    "Rule",
    "agent_token",
    "path_params_query",
]
