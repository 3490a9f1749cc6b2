"""Identify stage: the crawler catalogue and the user-agent matcher.

``load_catalog()`` reads the bundled ``rules/crawlers.yaml`` (or a given file) into a
:class:`Catalog`, whose ``classify``/``classify_many`` map user agents to :class:`Crawler`
records, memoised per distinct agent. See ``README.md`` beside this file.
"""

from botguard.catalog.catalog import Catalog
from botguard.catalog.loader import bundled_path, load_catalog
from botguard.catalog.records import CATEGORIES, Crawler, Verification

__all__ = ["CATEGORIES", "Catalog", "Crawler", "Verification", "bundled_path", "load_catalog"]
