"""A missing permission is one line naming it, before any write; the token alone authenticates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from botguard.app.cloudflare import CloudflareReport
from botguard.config import Settings
from botguard.deploy.cloudflare import MissingPermission
from tests.deploy.cloudflare.conftest import ACCOUNT, TOKEN, ZONE, seed_foreign
from tests.deploy.cloudflare.fakecf import (
    LISTS_EDIT,
    LISTS_READ,
    WAF_EDIT,
    WAF_READ,
    FakeServer,
)
from tests.deploy.cloudflare.test_sync import DECISIONS
from tests.deploy.cloudflare.test_sync import _run as run_sync
from tests.helpers import run_cli

ZONE2 = "e" * 32
INTROSPECT = "API Tokens Read"  # lets a user token read its own policies


def _run(
    fake: FakeServer, tmp_path: Path, zones: tuple[str, ...] = (ZONE,), verb: str = "apply"
) -> CloudflareReport:
    return run_sync(fake, tmp_path, verb, zone_id=zones)


def seed_decisions(state_path: Path) -> None:
    """Active decisions in a state database, as deploy-rules would have recorded them."""
    from botguard.decide.store import record_decisions
    from botguard.state import State

    settings = Settings()
    with State(str(state_path)) as state:
        record_decisions(state, DECISIONS, datetime.now(UTC), settings.decide, settings.allowlist)


def _nothing_written(fake: FakeServer) -> None:
    assert fake.state.writes == [] and fake.state.lists == {} and fake.state.entrypoints == {}


def test_no_list_permission_at_all_fails_on_the_first_read(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.token({WAF_EDIT})
    with pytest.raises(MissingPermission) as caught:
        _run(fake, tmp_path)
    assert str(caught.value) == (f'the Cloudflare API token lacks "{LISTS_READ}" on account {ACCOUNT} '
                                 f'("{LISTS_EDIT}" to apply); nothing was written')  # fmt: skip
    assert caught.value.exit_status == 2
    _nothing_written(fake)
    assert fake.state.dry_runs == []


def test_list_read_only_token_that_reads_its_policies_fails_before_any_write(
    fake: FakeServer, tmp_path: Path
) -> None:
    """Read but not Edit on lists: the token's own policies say so; no write request at all."""
    fake.state.token({LISTS_READ, WAF_EDIT, INTROSPECT})
    with pytest.raises(
        MissingPermission, match=f'lacks "{LISTS_EDIT}" on account {ACCOUNT}; nothing was written'
    ):
        _run(fake, tmp_path)
    _nothing_written(fake)
    assert fake.state.dry_runs == []


def test_list_read_only_token_without_introspection_is_refused_at_the_first_list_write(
    fake: FakeServer, tmp_path: Path
) -> None:  # fmt: skip
    """Without API Tokens Read nothing tells Read from Edit but a write: the list write comes
    first, so the one refused request (403) is the only write request and nothing changed."""
    fake.state.token({LISTS_READ, WAF_EDIT})
    with pytest.raises(
        MissingPermission, match=f'lacks "{LISTS_EDIT}" on account {ACCOUNT}; nothing was written'
    ):
        _run(fake, tmp_path)
    assert fake.state.writes == [("POST", f"/client/v4/accounts/{ACCOUNT}/rules/lists")]
    assert fake.state.lists == {} and fake.state.entrypoints == {}


@pytest.mark.parametrize("introspect", [False, True], ids=["dry-run", "policies"])
def test_missing_zone_waf_edit_fails_before_any_write(
    fake: FakeServer, tmp_path: Path, introspect: bool
) -> None:
    """Zone WAF Read only: found by the token's policies, or by a dry-run copy of the first rule
    write (validated, never applied); the list is not touched either."""
    fake.state.token({LISTS_EDIT, WAF_READ} | ({INTROSPECT} if introspect else set()))
    seed_foreign(fake.state)
    with pytest.raises(MissingPermission, match=f'lacks "{WAF_EDIT}" on zone {ZONE}; nothing was written'):
        _run(fake, tmp_path)
    assert fake.state.writes == [] and fake.state.lists == {}
    assert len(fake.state.entrypoints[ZONE]["rules"]) == 2
    assert len(fake.state.dry_runs) == (0 if introspect else 1)


def test_no_zone_permission_at_all_fails_on_the_read(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.token({LISTS_EDIT})
    with pytest.raises(
        MissingPermission, match=f'lacks "{WAF_READ}" on zone {ZONE} \\("Zone WAF Edit" to apply\\)'
    ):
        _run(fake, tmp_path)
    _nothing_written(fake)


@pytest.mark.parametrize("introspect", [False, True], ids=["dry-run", "policies"])
def test_permission_on_one_zone_only_names_the_other(
    fake: FakeServer, tmp_path: Path, introspect: bool
) -> None:
    fake.state.token({LISTS_EDIT, WAF_READ, f"{WAF_EDIT}@{ZONE}"} | ({INTROSPECT} if introspect else set()))
    with pytest.raises(MissingPermission, match=f'lacks "{WAF_EDIT}" on zone {ZONE2}; nothing was written'):
        _run(fake, tmp_path, zones=(ZONE, ZONE2))
    _nothing_written(fake)


def test_full_token_that_reads_its_policies_makes_no_dry_run(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.token({LISTS_EDIT, WAF_EDIT, INTROSPECT})
    out = _run(fake, tmp_path)
    assert (
        out.applied is not None and out.applied.writes == 3 and out.probes == 0 and fake.state.dry_runs == []
    )


def test_account_owned_token_is_verified_under_its_account(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.token({LISTS_EDIT, WAF_EDIT, "Account API Tokens Read"}, owner=ACCOUNT)
    out = _run(fake, tmp_path)
    assert out.applied is not None and out.applied.writes == 3
    paths = [p for _, p in fake.state.log[:3]]
    assert paths == ["/client/v4/user/tokens/verify", f"/client/v4/accounts/{ACCOUNT}/tokens/verify",
                     f"/client/v4/accounts/{ACCOUNT}/rules/lists"]  # fmt: skip


def test_unknown_token_is_not_valid(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.tokens.clear()
    with pytest.raises(
        MissingPermission,
        match="the Cloudflare API token is not valid \\(HTTP 401: 1000: Invalid API Token\\)",
    ):
        _run(fake, tmp_path)
    assert [p for _, p in fake.state.log] == ["/client/v4/user/tokens/verify",
                                              f"/client/v4/accounts/{ACCOUNT}/tokens/verify"]  # fmt: skip


def test_expired_token(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.tokens[TOKEN].status = "expired"
    with pytest.raises(MissingPermission, match="the Cloudflare API token is expired; nothing was written"):
        _run(fake, tmp_path)
    assert len(fake.state.log) == 1


def test_plan_needs_only_read(fake: FakeServer, tmp_path: Path) -> None:
    """`plan` and `status` never write and never check write permissions."""
    fake.state.token({LISTS_READ, WAF_READ})
    out = _run(fake, tmp_path, verb="plan")
    assert not out.plan.empty and fake.state.writes == [] and fake.state.dry_runs == []


def test_cli_missing_permission_is_one_line_exit_2(fake: FakeServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Through the CLI, with CLOUDFLARE_EMAIL/CLOUDFLARE_API_KEY set too: the token is what is sent."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "x@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "legacy-key")
    fake.state.token({LISTS_EDIT, WAF_READ})
    config = tmp_path / "c.yaml"
    config.write_text(
        f"cloudflare:\n  account_id: {ACCOUNT}\n  zone_id: {ZONE}\n  base_url: {fake.base_url}\n"
    )
    seed_decisions(tmp_path / "state.db")
    r = run_cli("cloudflare", "apply", "--config", str(config), "--state", str(tmp_path / "state.db"))
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert (
        r.stderr
        == f'botguard: error: the Cloudflare API token lacks "{WAF_EDIT}" on zone {ZONE}; nothing was written\n'
    )
    assert fake.state.writes == []
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" and "X-Auth-Key" not in h and "X-Auth-Email" not in h
               for h in fake.state.headers)  # fmt: skip
