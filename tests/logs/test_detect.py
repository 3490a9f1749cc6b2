"""Format detection from the first lines of a file."""

from __future__ import annotations

import pytest

from botguard.errors import InputError
from botguard.logs import read_batches
from botguard.logs.detect import detect_format

COMBINED = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"'
COMMON = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5'
VHOST = "example.com:80 " + COMBINED
JSON = '{"remote_addr": "1.2.3.4", "time_local": "17/May/2015:10:05:03 +0000", "request": "GET / HTTP/1.1", "status": 200}'
CADDY = (
    '{"ts": 1703373474.8, "request": {"client_ip": "1.2.3.4", "method": "GET", "uri": "/"}, "status": 200}'
)


@pytest.mark.parametrize(
    "lines, expected",
    [
        ([COMBINED] * 3, "combined"),
        ([COMMON] * 3, "common"),
        ([VHOST] * 3, "vhost_combined"),
        (["example.com " + COMBINED], "vhost_combined"),
        ([JSON] * 2, "json"),
        ([CADDY], "caddy"),
        (["# comment", COMBINED, "garbage", COMBINED], "combined"),
        ([COMBINED] * 19 + [COMMON], "combined"),
        ([COMBINED, COMMON, COMMON], "common"),
        ([COMBINED + ' "-" 0.003'], "combined"),
    ],
)
def test_detects_format(lines, expected):
    """The format that reads most lines wins; richer formats win ties."""
    assert detect_format(lines) == expected


def test_unrecognised_file_is_an_input_error(tmp_path):
    """A file no format reads fails with the file name and the way out (--log-format)."""
    path = tmp_path / "error.log"
    path.write_text("[Tue Jul 22 06:48:30 2008] [error] [client 198.51.100.86] File does not exist\n")
    with pytest.raises(InputError, match=r"pass --log-format .* in .*error\.log"):
        list(read_batches([str(path)]))


def test_detection_is_per_file(tmp_path):
    """Each file gets its own detection: a combined and a JSON file in one scan."""
    (tmp_path / "a.log").write_text(COMBINED + "\n")
    (tmp_path / "b.log").write_text(JSON + "\n")
    batches = list(read_batches([str(tmp_path / "a.log"), str(tmp_path / "b.log")]))
    assert [b.requests.height for b in batches] == [1, 1]
    assert batches[1].requests["user_agent"][0] is None  # the JSON line logs no UA
