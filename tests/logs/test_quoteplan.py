"""The quote plan's cheap slices read the same text whatever unit polars' ``str.find`` counts in."""

from __future__ import annotations

import re
import subprocess
import sys

import polars as pl

from botguard.logs._quoteplan import _head_to


def test_head_to_cuts_at_the_stop_in_non_ascii_text() -> None:
    """Before the first space, exactly: polars 2.2 counts str.find in characters, older in bytes."""
    values = ["héllo wörld x", "ü ü", "abc def", "nospace", None, "", "\u2028\x00 tail"]
    frame = pl.DataFrame({"line": values}, schema={"line": pl.String})

    heads = frame.select(_head_to(pl.col("line"), " ")).to_series().to_list()

    assert heads == ["héllo", "ü", "abc", None, None, None, "\u2028\x00"]


def test_building_the_formats_expressions_starts_no_thread_pool() -> None:
    """The resident server builds the formats' parse expressions before it forks
    (build_expressions): that must not start polars' thread pool, on which a forked child would
    wait for ever. In a fresh interpreter, as the server's: the pool's threads are named."""
    code = (
        "import os\n"
        "from botguard.logs.formats import FORMATS\n"
        "from botguard.logs.text import build_expressions\n"
        "build_expressions(FORMATS.values())\n"
        "from botguard.logs.formats import FORMATS as F\n"
        "assert F['combined'].plan._built, 'nothing built'\n"
        "names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "print(' '.join(names))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert not re.search(r"polars-\d|tokio|async-executor", done.stdout), done.stdout
