"""Rendered files match the golden files byte for byte (BOTGUARD_UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import os

import pytest

from botguard.render import RENDERERS
from tests.render.golden_cases import GOLDEN, cases, load_case

UPDATE = os.environ.get("BOTGUARD_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("target", sorted(RENDERERS))
@pytest.mark.parametrize("case", cases())
def test_golden(case: str, target: str) -> None:
    """Each case renders to exactly the reviewed bytes."""
    for rule_file in RENDERERS[target].render(load_case(case)):
        path = GOLDEN / case / rule_file.name
        if UPDATE:
            path.write_text(rule_file.text, encoding="ascii")
        assert path.exists(), f"missing golden file {path}: run with BOTGUARD_UPDATE_GOLDEN=1 and review"
        assert rule_file.text == path.read_text(encoding="ascii")


@pytest.mark.parametrize("target", sorted(RENDERERS))
@pytest.mark.parametrize("case", cases())
def test_golden_files_pass_the_real_server(case: str, target: str) -> None:
    """Every golden file is accepted by the real server (nginx -t without warnings / apache2 -t)."""
    from tests.render.servers import (
        apache_commands,
        check,
        nginx_commands,
        scratch_prefix,
        write_apache_conf,
        write_nginx_conf,
    )

    with scratch_prefix(target) as prefix:
        for rule_file in RENDERERS[target].render(load_case(case)):
            (prefix / "botguard" / rule_file.name).write_text(rule_file.text)
        if target == "nginx":
            write_nginx_conf(prefix, 18080)
            argv = [a for a in nginx_commands(prefix)[0] if a != "-q"]
        else:
            write_apache_conf(prefix, 18080)
            argv = apache_commands(prefix)[0]
        result = check(argv)
        assert result.returncode == 0, result.stderr
        assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr
