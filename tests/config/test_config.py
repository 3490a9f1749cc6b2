"""Configuration loading: strict keys, exact error messages with file and line."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from botguard.config import load_settings
from botguard.errors import ConfigError, ExitStatus

HERE = Path(__file__).parent
INVALID = sorted((HERE / "invalid").rglob("*.yaml"))


def _wanted_error(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# want-error: "), f"{path} lacks a '# want-error:' header"
    return first.removeprefix("# want-error: ").replace("{path}", str(path))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_invalid_config_is_rejected_with_exact_message(path: Path) -> None:
    """Each invalid fixture fails with the message in its header, naming file and line."""
    wanted = _wanted_error(path)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == wanted
    assert caught.value.exit_status == ExitStatus.USAGE


def test_there_are_invalid_fixtures() -> None:
    """The parametrised test above must not silently run over nothing."""
    assert len(INVALID) >= 8


def test_defaults_come_from_bundled_policy() -> None:
    """Without a config file the bundled rules/policy.yaml applies."""
    settings = load_settings()
    assert settings.policy.block_min_disallowed == 1
    assert settings.policy.block_on_honeypot is True
    assert settings.honeypots == ()
    assert settings.source is None


def test_full_config_overrides_every_key() -> None:
    """A user's file overrides defaults key by key, with typed values."""
    settings = load_settings(HERE / "valid" / "full.yaml")
    assert settings.policy.block_min_disallowed == 3
    assert settings.policy.block_on_honeypot is False
    assert settings.policy.block_categories == ("scanner",)
    assert settings.human.max_pages_without_assets == 50
    assert settings.honeypots == ("/internal/trap/",)
    assert settings.allowlist.user_agents == ("uptimerobot",)
    assert ipaddress.ip_network("192.0.2.0/24") in settings.allowlist.networks
    assert settings.allowlist.clients[0].user_agent == "MyMonitor/1.0"
    assert settings.log_format == "combined"
    assert settings.json_fields == {"ip": "client_ip"}


def test_partial_override_keeps_other_defaults(tmp_path: Path) -> None:
    """Overriding one policy key leaves its siblings at their defaults."""
    path = tmp_path / "c.yaml"
    path.write_text("policy:\n  block_min_disallowed: 5\n")
    settings = load_settings(path)
    assert settings.policy.block_min_disallowed == 5
    assert settings.policy.block_on_honeypot is True


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is reported, not ignored."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.yaml")


def test_empty_config_file_means_defaults(tmp_path: Path) -> None:
    """An empty file is a valid config that changes nothing."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_settings(path).policy == load_settings().policy


def test_allowlist_addresses_in_their_one_spelling(tmp_path: Path) -> None:
    """Allowlisted addresses are spelled as the scan spells log addresses (IPv4-mapped as IPv4, IPv6
    compressed); the user may list loopback and link-local networks (no log address may become one)."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "allowlist:\n  ips: ['::ffff:10.1.2.3', '127.0.0.1', '2001:DB8::/32', 'fe80::/10']\n"
        "  clients:\n    - {ip: '2001:DB8:0:0:0:0:0:1', user_agent: Uptime/1.0}\n"
    )
    allow = load_settings(path).allowlist
    assert [str(n) for n in allow.networks] == ["10.1.2.3/32", "127.0.0.1/32", "2001:db8::/32", "fe80::/10"]
    assert [c.ip for c in allow.clients] == ["2001:db8::1"]


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")
@pytest.mark.parametrize(
    "path", [None, *sorted((HERE / "valid").glob("*.yaml"))], ids=lambda p: p.name if p else "defaults"
)
def test_a_valid_config_is_read_by_libyaml_alone(monkeypatch: pytest.MonkeyPatch, path: Path | None) -> None:
    """Every command loads the bundled defaults (and the user's file): PyYAML's pure-Python
    parser cost ~10 ms of each start; it runs only to word the error of a file that fails."""
    made = []
    real = yaml.SafeLoader.__init__

    def spy(self: yaml.SafeLoader, stream: Any) -> None:
        made.append(stream)
        real(self, stream)

    monkeypatch.setattr(yaml.SafeLoader, "__init__", spy)
    assert load_settings(path).policy.block_min_disallowed >= 0
    assert made == []
