"""The `cloudflare:` section: one zone id or a list of them; the single-zone form is unchanged."""

from __future__ import annotations

from pathlib import Path

from botguard.config import CloudflareSettings, load_settings

A, Z1, Z2 = "a" * 32, "f" * 32, "e" * 32


def test_single_zone_id_is_one_zone(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"cloudflare:\n  account_id: {A}\n  zone_id: {Z1}\n")
    conf = load_settings(path).cloudflare
    assert conf.zone_id == Z1 and conf.zone_ids == (Z1,) and conf.account_id == A


def test_zone_id_list_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"cloudflare:\n  account_id: {A}\n  zone_id:\n    - {Z2}\n    - {Z1}\n")
    assert load_settings(path).cloudflare.zone_ids == (Z2, Z1)


def test_no_zone_is_no_zone_ids() -> None:
    assert CloudflareSettings().zone_ids == () and load_settings().cloudflare.zone_ids == ()
