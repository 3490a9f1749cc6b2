"""botguard: find aggressive crawlers in access logs, prove robots.txt violations, block them.

The package is organised as the pipeline data flows through::

    logs -> catalog -> identity -> judge -> decide -> render -> deploy
                 robots (RFC 9309 engine) feeds judge

Each stage is a subpackage with a small typed interface; ``botguard.app`` runs them, one
function per verb, and ``botguard.cli`` only parses options, calls that function and prints.
"""

__version__ = "0.1.0"
