"""Rendered files match the golden files byte for byte (BOTGUARD_UPDATE_GOLDEN=1 rewrites them).

The nginx and Apache files, and the Cloudflare objects (``cloudflare.json``: the list items and
the rules with their expressions, as stable JSON) of the same cases.
"""

from __future__ import annotations

import json
import os

import pytest

from botguard.render import renderers
from botguard.render.cloudflare import MAX_EXPRESSION
from botguard.render.records import RuleFile
from tests.render.golden_cases import GOLDEN, cases, load_case

UPDATE = os.environ.get("BOTGUARD_UPDATE_GOLDEN") == "1"
#: The targets that write server files, checked by the real server (tests/render/servers.py).
SERVERS = ("apache", "nginx")


def _check_golden(case: str, rule_file: RuleFile) -> None:
    path = GOLDEN / case / rule_file.name
    if UPDATE:
        path.write_text(rule_file.text, encoding="ascii")
    assert path.exists(), f"missing golden file {path}: run with BOTGUARD_UPDATE_GOLDEN=1 and review"
    assert rule_file.text == path.read_text(encoding="ascii")


@pytest.mark.parametrize("target", sorted(renderers()))
@pytest.mark.parametrize("case", cases())
def test_golden(case: str, target: str) -> None:
    """Each case renders to exactly the reviewed bytes, for every registered target (Cloudflare:
    its objects as cloudflare.json)."""
    for rule_file in renderers()[target].render(load_case(case)):
        _check_golden(case, rule_file)


@pytest.mark.parametrize("case", cases())
def test_golden_cloudflare_expressions_are_valid_rules_language(case: str) -> None:
    """Cloudflare's `-t`: every golden expression reads back under the strict rules-language
    reader, within 4,096 characters, its list reference naming the golden list."""
    from tests.deploy.cloudflare.rules_lang import parse, tokenize

    doc = json.loads((GOLDEN / case / "cloudflare.json").read_text(encoding="ascii"))
    for rule in doc["rules"]:
        assert len(rule["expression"]) <= MAX_EXPRESSION and rule["ref"].startswith("botguard:")
        parse(rule["expression"])
        lists = [t.value[1:] for t in tokenize(rule["expression"]) if t.value.startswith("$")]
        assert lists in ([], [doc["list"]["name"]])


@pytest.mark.parametrize("target", SERVERS)
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
        for rule_file in renderers()[target].render(load_case(case)):
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
