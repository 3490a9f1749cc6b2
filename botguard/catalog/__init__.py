"""Identify stage: the crawler catalogue and the user-agent matcher.

``load_catalog()`` reads the bundled ``rules/crawlers.yaml`` (or a given file) into a
:class:`Catalog`, whose ``classify``/``classify_many`` map user agents to :class:`Crawler`
records, memoised per distinct agent; ``plain_text()`` is the text a plain pattern looks for
(rule tokens come from it). ``reference_agents()`` holds the real browser and welcome
crawler agents no pattern or generated rule may match. See ``README.md`` beside this file.
"""

from botguard.catalog._literals import plain_text
from botguard.catalog.catalog import Catalog
from botguard.catalog.loader import keep_bundled_catalog, load_catalog
from botguard.catalog.records import Crawler
from botguard.catalog.reference import reference_agents

__all__ = ["Catalog", "Crawler", "keep_bundled_catalog", "load_catalog", "plain_text", "reference_agents"]
