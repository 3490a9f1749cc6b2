"""A log of blank or one-byte lines: memory per line of a block must stay bounded.

The readers cut a log into blocks of about 8 MiB, so an ordinary block holds ~35k lines. A
block of newlines holds 8.4 million: whatever a parse costs per line is paid 240 times over.
Measured (hostile review, this session): ``parse_block`` of 8 MiB of ``\\n`` peaked at
5.6 GB RSS on the polars path (6.0 GB with the compiled kernel, which hands blank lines back);
``botguard scan`` of a 16 MiB file of newlines peaked at 3.0 GB. A log is hostile: a truncated
or padded file must not exhaust the memory of the host the scan runs on. The compiled reader
now counts empty lines itself (the polars path, used when it is not built or turned off, still
costs that much: readers could cap the lines of a block).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from botguard import native

PEAK = textwrap.dedent(
    """
    import resource, sys
    from botguard.logs.formats import FORMATS
    assert FORMATS["combined"].fast_reader() is not None, "the compiled reader is not built"
    block = b"\\n" * (1 << 19)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    FORMATS["combined"].parse_block(block, source="s")  # warm: polars' pools, the plan
    rows, stats = FORMATS["combined"].parse_block(block, source="s")
    assert stats.lines == 1 << 19 and stats.malformed == 1 << 19, stats.lines
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """
)


def test_a_block_of_half_a_million_blank_lines_costs_under_256_bytes_a_line() -> None:
    """524,288 blank lines in one block (512 KiB), read by the kernel as a scan reads them:
    peak RSS grows by under 128 MiB (451-467 MiB when the kernel handed them back)."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k != native.DISABLE_VARIABLE},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    grown_mib = int(done.stdout)
    assert grown_mib < 128, f"peak RSS grew {grown_mib} MiB for 524,288 blank lines"
