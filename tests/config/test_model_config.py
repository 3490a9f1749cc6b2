"""The `model:` config section: documented defaults in rules/policy.yaml, overrides, slot policies."""

from __future__ import annotations

from pathlib import Path

from botguard.config import ModelSettings, SlotOverride, load_settings
from botguard.model.stream import DEFAULT_POLICIES, StreamSettings


def test_bundled_defaults_equal_the_dataclass_defaults() -> None:
    """rules/policy.yaml documents exactly the values the code uses when nothing is configured."""
    assert load_settings().model == ModelSettings()
    assert load_settings().model.auto_deploy is False


def test_overrides_reach_the_stream_settings(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "model:\n  threshold: 0.8\n  min_ips: 5\n  min_ips_named: 4\n  delta_interval: 2.5\n"
        "  slots:\n    ip24: {admit_after: 5, ttl: 3600}\n    asn: {ttl: null}\n"
        "allowlist:\n  user_agents: [MyMonitor]\n  ips: [192.0.2.0/24]\n"
    )
    settings = load_settings(path)
    assert settings.model.threshold == 0.8 and settings.model.min_requests == 200
    assert settings.model.slots == {"ip24": SlotOverride(5, 3600.0), "asn": SlotOverride(1, None)}
    stream = StreamSettings.from_settings(settings)
    assert stream.delta_interval == 2.5
    assert stream.rules.threshold == 0.8 and stream.rules.min_ips == 5 and stream.rules.min_ips_named == 4
    assert stream.rules.allow_agents == ("mymonitor",)
    assert [str(n) for n in stream.rules.allow_networks] == ["192.0.2.0/24"]
    assert stream.policies["ip24"].admit_after == 5 and stream.policies["ip24"].ttl == 3600.0
    assert stream.policies["asn"].ttl is None
    assert stream.policies["ua_tok"] == DEFAULT_POLICIES["ua_tok"]  # untouched slots keep their defaults


def test_campaign_settings_reach_the_stream_settings(tmp_path: Path) -> None:
    """`model.campaigns` overrides the campaign signatures' defaults key by key."""
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  campaigns:\n    min_clients: 12\n    link_window: 120\n    enabled: false\n")
    rules = StreamSettings.from_settings(load_settings(path)).campaigns
    assert (rules.min_clients, rules.link_window, rules.enabled, rules.burst_min) == (12, 120.0, False, 8)
