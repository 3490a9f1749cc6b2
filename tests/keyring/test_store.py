"""The keyring file as deploy-rules ships it to a host's serve."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from botguard.keyring import KeyringError, keyring_text, load, load_or_create, place, write_private

NOBODY = 65534


def test_place_installs_a_shipped_keyring_once(tmp_path: Path) -> None:
    """The text is checked, written 0600 (its directory made), and not rewritten when unchanged."""
    text = keyring_text(load_or_create(tmp_path / "central.json", 1000.0))
    target = tmp_path / "host" / "serve-secret.json"
    assert place(target, text) is True
    assert target.read_text() == text and stat.S_IMODE(target.stat().st_mode) == 0o600
    mtime = target.stat().st_mtime_ns
    assert place(target, text) is False and target.stat().st_mtime_ns == mtime
    assert load(target) == load(tmp_path / "central.json")


def test_place_refuses_what_is_not_a_keyring(tmp_path: Path) -> None:
    target = tmp_path / "serve-secret.json"
    with pytest.raises(KeyringError, match="not a botguard keyring"):
        place(target, '{"keys": "nope"}')
    assert not target.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_as_root_the_file_belongs_to_the_owner_of_its_directory(tmp_path: Path) -> None:
    """deploy-rules and receive-rules run as root; serve runs as its own user in a state directory
    that user owns (systemd StateDirectory): the keyring written there must be readable by serve."""
    home = tmp_path / "var-lib-botguard"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    ring = load_or_create(home / "serve-secret.json", 1000.0)
    place(home / "copy.json", keyring_text(ring))
    for name in ("serve-secret.json", "copy.json"):
        info = (home / name).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, NOBODY, 0o600), name


def test_an_exclusive_write_keeps_the_file_that_is_there(tmp_path: Path) -> None:
    """Two serves making the admin token at once: the second keeps (and reads) the first one's;
    no temporary file is left beside it, and a file appears only whole."""
    path = tmp_path / "serve-admin.token"
    assert write_private(path, "first-token-0123456789\n", "the admin token", exclusive=True) is True
    assert write_private(path, "second-token-0123456789\n", "the admin token", exclusive=True) is False
    assert path.read_text() == "first-token-0123456789\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert write_private(path, "third-token-0123456789\n") is True and path.read_text().startswith("third")
    assert [p.name for p in tmp_path.iterdir()] == ["serve-admin.token"]
