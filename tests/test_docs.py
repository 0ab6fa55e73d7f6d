"""The README's reference tables are checked against the code."""

from __future__ import annotations

import re

from layerkit.config import BUILD_OPTIONS
from layerkit.errors import ExitCode
from tests.support import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def _section(name: str) -> str:
    match = re.search(f"<!-- {name}:start -->(.*?)<!-- {name}:end -->", README, re.S)
    assert match, name
    return match.group(1)


def test_every_config_key_is_documented_and_no_other() -> None:
    documented = re.findall(r"^\| `([a-z-]+)` \|", _section("config-keys"), re.M)
    assert documented == [spec.key for spec in BUILD_OPTIONS]


def test_exit_code_table_matches_the_code() -> None:
    documented = [int(c) for c in re.findall(r"^\| (\d+) \|", _section("exit-codes"), re.M)]
    assert documented == sorted(int(code) for code in ExitCode)


def test_readme_leads_with_the_two_commands() -> None:
    blocks = re.findall(r"```\n(.*?)\n```", README, re.S)
    assert blocks[0].endswith("layerkit build examples/requests-layer")
    assert blocks[1].endswith("pytest")
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "layerkit build examples/requests-layer" in ci
    assert 'pip install -e ".[test]"' in ci and "\npytest" in ci
