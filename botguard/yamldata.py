"""Read shipped and user YAML data with libyaml's C parser when the install has it.

PyYAML's pure-Python parser costs ~10 ms per small file; a scan reads several at every start
(the IP range index, the hosting networks, the catalogue's slow path).
"""

from __future__ import annotations

from typing import Any

import yaml

#: The safe loader, in C when PyYAML was built with libyaml.
SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through :data:`SafeLoader` (raises ``yaml.YAMLError`` the same way)."""
    return yaml.load(text, Loader=SafeLoader)
