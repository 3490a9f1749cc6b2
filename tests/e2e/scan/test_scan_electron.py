"""People using Electron desktop apps are people: the re-audit's VS Code, Notion and Mattermost
users who browse a shop (and open /cart, which robots.txt disallows) are not crawlers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
APPS = {
    "192.0.2.50": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.97.2 "
    "Chrome/128.0.6613.186 Electron/32.2.7 Safari/537.36",
    "192.0.2.51": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Notion/4.5.0 Chrome/128.0.6613.186 Electron/32.2.7 Safari/537.36",
    "192.0.2.52": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Mattermost/5.10.0 Chrome/128.0.6613.36 Electron/32.0.1 Safari/537.36",
}


def test_electron_app_users_are_not_named_crawlers_nor_blocked(tmp_path: Path) -> None:
    log = tmp_path / "electron.log"
    log.write_text(
        "".join(
            f'{ip} - - [04/Mar/2024:00:0{m}:00 +0100] "GET {path} HTTP/1.1" 200 1 "https://www.example.com/" '
            f'"{agent}"\n'
            for ip, agent in APPS.items()
            for m, path in enumerate(("/", "/style.css", "/cart", "/search?q=x"))
        )
    )
    r = run_cli("scan", str(log), "--robots", str(EXAMPLES / "robots.txt"), "--config",
                str(EXAMPLES / "botguard.yaml"), "--no-save", "--no-dns", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    clients = {c["ip"]: (c["crawler"], c["verdict"]) for c in json.loads(r.stdout)["clients"]}
    assert clients == dict.fromkeys(APPS, (None, "allow"))
