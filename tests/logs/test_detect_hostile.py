"""Format detection on lines that only a format's quote plan reads (the hostile review's corpus).

A format's parse takes a line through its quote plan first, and the plan's pieces are looser
than the template's regexes: common's plan reads a bytes field of ``-1``, ``-0`` or ``+5``
(the integer cast takes a sign) where no regex of the template matches. Detection that skips a
format because none of its regexes match such lines answers otherwise than scoring every
format: a file whose first lines all look so is refused ("cannot recognise the log format")
where scoring every format reads it as common.
"""

from __future__ import annotations

import pytest

from botguard.errors import InputError
from botguard.logs.detect import detect_format
from tests.logs.test_detect import _detect_by_scoring_all

HEAD = '1.2.3.4 - - [04/Mar/2024:00:00:00 +0100] "GET / HTTP/1.1" 200'
COMBINED = f'{HEAD} 5 "-" "curl/8"'


def _detected(lines: list[str]) -> str | None:
    try:
        return detect_format(lines)
    except InputError:
        return None


@pytest.mark.parametrize(
    "lines",
    [
        [f'{HEAD} -1 "-" "curl/8"'] * 3,
        [f'{HEAD} +5 "https://a.example/" "Mozilla/5.0"'],
        [f'{HEAD} -0 "-" "curl/8"', f'{HEAD} -1 "-" "curl/8"'],
        [f"{HEAD} -1"] * 2,
        [f'{HEAD} -9223372036854775808 "-" "curl/8"'],
    ],
    ids=["minus-one", "plus-five", "minus-zero", "common-minus-one", "int64-min"],
)
def test_lines_only_the_quote_plan_reads_are_detected_as_scoring_every_format_does(lines: list[str]) -> None:
    expected = _detect_by_scoring_all(lines)
    assert expected is not None  # a format reads them: detection must not refuse the file
    assert _detected(lines) == expected


def test_a_plain_combined_sample_is_still_combined() -> None:
    """The corpus above is not a detection that reads everything as common."""
    assert _detected([COMBINED] * 3) == _detect_by_scoring_all([COMBINED] * 3) == "combined"
