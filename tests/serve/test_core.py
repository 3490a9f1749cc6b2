"""serve's parts without a web server: challenges, passes, keyring, page, config, CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from botguard.config import ServeSettings, load_settings
from botguard.keyring import GRACE, Key, Keyring, KeyringError, load, load_or_create, rotate
from botguard.serve._page import CSP, page, safe_return_path
from botguard.serve._tokens import ChallengeRefused, apache_stamp, issue, pass_cookies, verify
from tests.helpers import run_cli
from tests.serve.site import solve

KEY = Key("0a0b0c0d", "ab" * 32, 0.0)
RING = Keyring((KEY,))
NOW = 1_800_000_000.0


def _issued(bind: str = "192.0.2.1", agent: str = "A/1", difficulty: int = 8) -> tuple[str, str]:
    token = issue(KEY, bind, agent, difficulty, NOW, 300)
    return token, solve(token, difficulty)


def _flip_mac(token: str) -> str:
    head, mac = token.rsplit(".", 1)
    return f"{head}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"


def test_solved_challenge_verifies_for_its_client_only() -> None:
    """The right client with enough work passes; another binding or agent does not."""
    token, counter = _issued()
    assert verify(token, counter, "192.0.2.1", "A/1", RING, NOW, 8) == KEY
    for bind, agent in (("192.0.2.2", "A/1"), ("192.0.2.1", "A/2"), ("192.0.2.1", "")):
        with pytest.raises(ChallengeRefused, match="not issued to this client"):
            verify(token, counter, bind, agent, RING, NOW, 8)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t, c: (t, str(int(c) + 1)), "not enough work"),
        (lambda t, c: (t.replace(".8.", ".1.", 1), c), "not issued to this client"),
        (lambda t, c: (_flip_mac(t), c), "not issued to this client"),
        (lambda t, c: (t.replace("0a0b0c0d", "ffffffff"), c), "unknown key"),
        (lambda t, c: (t + "x", c), "malformed"),
        (lambda t, c: (t, "1e9"), "malformed"),
        (lambda t, c: (t, "1" * 17), "malformed"),
    ],
)
def test_tampered_challenges_are_refused(change, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Edited difficulty or MAC, unknown key, bad counter, too little work: each named."""
    token, counter = _issued()
    token, counter = change(token, counter)
    if reason == "not enough work":  # the next counter solves it too with odds 1/256: use one that does not
        while hashlib.sha256(f"{token}:{counter}".encode()).digest()[0] == 0:
            counter = str(int(counter) + 1)
    with pytest.raises(ChallengeRefused, match=reason):
        verify(token, counter, "192.0.2.1", "A/1", RING, NOW, 8)


def test_expired_and_too_easy_challenges_are_refused() -> None:
    """A challenge past its lifetime, or issued easier than the current difficulty, is refused."""
    token, counter = _issued()
    with pytest.raises(ChallengeRefused, match="expired"):
        verify(token, counter, "192.0.2.1", "A/1", RING, NOW + 301, 8)
    with pytest.raises(ChallengeRefused, match="too easy"):
        verify(token, counter, "192.0.2.1", "A/1", RING, NOW, 9)


def test_pass_cookies_are_the_documented_hashes() -> None:
    """nginx: base64url(md5("E|bind|agent|secret")); Apache: sha1("STAMP|bind|agent|secret")."""
    agent = 'Mo"zilla ${x} \udcff|'  # a raw 0xff byte arrives as a surrogate
    cookies = pass_cookies(KEY, "192.0.2", agent, 1_800_000_000)
    raw = agent.encode("utf-8", "surrogateescape")
    md5 = hashlib.md5(b"1800000000|192.0.2|" + raw + b"|" + KEY.secret.encode()).digest()
    assert cookies.nginx_hash == base64.urlsafe_b64encode(md5).decode().rstrip("=")
    stamp = apache_stamp(1_800_000_000)
    sha1 = hashlib.sha1(f"{stamp}|192.0.2|".encode() + raw + b"|" + KEY.secret.encode()).hexdigest()
    assert cookies.apache_pass == f"{KEY.id}-{stamp}-{sha1}"
    assert cookies.as_dict()["bg_e"] == "1800000000" and re.fullmatch(r"\d{14}", stamp)


def test_keyring_is_created_private_and_others_cannot_read_it(tmp_path: Path) -> None:
    """Created 0600 with one key; a group- or world-readable file is refused."""
    path = tmp_path / "state" / "serve-secret.json"
    ring = load_or_create(path, NOW)
    assert len(ring.keys) == 1 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create(path, NOW + 10) == ring
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError, match="readable by others"):
        load(path)
    assert ring.keys[0].secret not in repr(ring.keys[0])  # tracebacks and logs never show it


def test_rotation_overlaps_then_drops_the_old_key(tmp_path: Path) -> None:
    """A new key signs after GRACE; the old one verifies until its last pass has expired."""
    path = tmp_path / "serve-secret.json"
    first = load_or_create(path, NOW).keys[0]
    ring = rotate(path, NOW + 10, cookie_lifetime=3600)
    new = ring.keys[0]
    assert ring.keys == (new, first)
    assert ring.signing(NOW + 20, GRACE) == first and ring.signing(NOW + 10 + GRACE, GRACE) == new
    assert rotate(path, NOW + 10 + GRACE + 3599, 3600).keys[1:] == (new, first)
    assert rotate(path, NOW + 10 + GRACE + 3601, 3600).keys[2:] == (new,)


@pytest.mark.parametrize(
    ("target", "back"),
    [
        ("/shop/item?id=3&x=y", "/shop/item?id=3&x=y"),
        ("/ünï", "/%C3%BCn%C3%AF"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/a\\b", "/"),
        ("javascript:alert(1)", "/"),
        ("http://evil.example/", "/"),
        ("", "/"),
        ("/" + "a" * 3000, "/"),
        ("/\t/evil.example", "/%09/evil.example"),
        ("/x\r\nSet-Cookie: a=b", "/x%0D%0ASet-Cookie:%20a=b"),
    ],
)
def test_return_path_is_a_same_site_path(target: str, back: str) -> None:
    """No open redirect: only a path on this site, with spaces/controls %-encoded."""
    assert safe_return_path(target) == back


def test_page_is_small_accessible_and_injection_free() -> None:
    """lang, a labelled progress bar, a live status, noscript; hostile data stays inside JSON."""
    back = safe_return_path('/x</script><script>alert(1)</script><!--"')
    html = page("1.tok", 16, back).decode()
    assert len(html.encode()) < 8000
    assert '<html lang="en">' in html and '<label for="bg-progress">' in html
    assert 'role="status" aria-live="polite"' in html and "<noscript>" in html
    assert "<script>alert" not in html and "<!--" not in html.split("<noscript>")[0].split("</style>")[1]
    data = re.search(r'id="bg-data">(.*?)</script>', html)
    assert data and json.loads(data[1]) == {"challenge": "1.tok", "difficulty": 16, "back": back}
    script = re.findall(r"<script>(.*?)</script>", html, re.S)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in CSP and "default-src 'none'" in CSP
    assert " onclick=" not in html and " onload=" not in html and "://" not in html  # nothing external


def test_serve_section_defaults_and_overrides(tmp_path: Path) -> None:
    """Defaults: loopback 8787, 14 bits, one day, bound to the address; a file overrides them."""
    assert load_settings().serve == ServeSettings()
    assert ServeSettings().listen == "127.0.0.1:8787" and ServeSettings().difficulty == 14
    config = tmp_path / "c.yaml"
    config.write_text("serve:\n  listen: unix:/run/botguard/serve.sock\n  bind: network\n  difficulty: 18\n")
    settings = load_settings(config).serve
    assert (settings.listen, settings.bind, settings.difficulty) == (
        "unix:/run/botguard/serve.sock",
        "network",
        18,
    )


def test_cli_rotate_secret_and_errors(tmp_path: Path) -> None:
    """--rotate-secret rotates and exits 0; a bad --listen is exit 2; a readable secret exit 1."""
    state = str(tmp_path / "state.db")
    first = run_cli("serve", "--state", state, "--rotate-secret")
    second = run_cli("serve", "--state", state, "--rotate-secret")
    assert first.exit_code == second.exit_code == 0, first.output
    keys = json.loads((tmp_path / "serve-secret.json").read_text())["keys"]
    assert len(keys) == 3 and keys[0]["id"] in second.stdout and keys[0]["secret"] not in second.stdout
    bad = run_cli("serve", "--state", state, "--listen", "0.0.0.0")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1, bad.output
    os.chmod(tmp_path / "serve-secret.json", 0o640)
    refused = run_cli("serve", "--state", state, "--listen", "127.0.0.1:1")
    assert (
        refused.exit_code == 1
        and "readable by others" in refused.stderr
        and "Traceback" not in refused.stderr
    )
