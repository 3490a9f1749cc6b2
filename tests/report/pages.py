"""Reading a report page back in tests: its data blocks, decoded as the page script decodes them."""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any


def data_block(html: str, block_id: str) -> Any:
    """The JSON of ``<script type="application/json" id=block_id>``, unpacked if compressed."""
    found = re.search(
        rf'<script type="application/json" id="{re.escape(block_id)}">(.*?)</script>', html, re.S
    )
    assert found, f"no data block {block_id}"
    value = json.loads(found.group(1))
    if isinstance(value, dict) and value.get("encoding") == "gzip+base64":
        return json.loads(gzip.decompress(base64.b64decode(value["data"])))
    return value


def client_rows(html: str) -> list[dict[str, Any]]:
    """The client table's rows as the page shows them (codes replaced by their texts)."""
    table = data_block(html, "bg-clients")
    data, dicts = table["data"], table["dicts"]
    rows = []
    for i in range(table["rows"]):
        row = {}
        for key, values in data.items():
            value = values[i]
            row[key] = dicts[key][value] if key in dicts and value is not None else value
        rows.append(row)
    return rows
