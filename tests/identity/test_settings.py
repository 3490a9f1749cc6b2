"""The `identity:` configuration section: defaults and overrides."""

from __future__ import annotations

from pathlib import Path

from botguard.config import load_settings


def test_identity_defaults() -> None:
    """DNS on, bounded; bundled ASN table; no country database; spoofed blocked, verified spared."""
    settings = load_settings()
    assert settings.identity.dns is True
    assert settings.identity.dns_timeout == 2.0
    assert settings.identity.dns_budget == 20.0
    assert settings.identity.asn_db is None and settings.identity.country_db is None
    assert settings.identity.bundled_asn is True
    assert settings.policy.block_spoofed is True
    assert settings.policy.block_verified is False


def test_identity_overrides(tmp_path: Path) -> None:
    config = tmp_path / "botguard.yaml"
    config.write_text(
        "identity:\n  dns: false\n  dns_timeout: 0.5\n  asn_db: /srv/GeoLite2-ASN.mmdb\n"
        "policy:\n  block_verified: true\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.identity.dns is False
    assert settings.identity.dns_timeout == 0.5
    assert settings.identity.dns_budget == 20.0  # untouched keys keep the default
    assert settings.identity.asn_db == "/srv/GeoLite2-ASN.mmdb"
    assert settings.policy.block_verified is True
