"""Issue 14: every command's --help ends with real examples, and they parse."""

from __future__ import annotations

import shlex

import pytest

from tests.support import run_cli

COMMANDS = [
    ("build",), ("inspect",), ("test",), ("targets",), ("init",),
    ("publish",), ("attach",), ("detach",), ("deploy",),
    ("layers", "list"), ("layers", "versions"), ("layers", "delete"), ("layers", "prune"),
    ("layers", "grant"), ("layers", "revoke"),
    ("version", "publish"), ("version", "list"), ("version", "prune"),
    ("alias", "create"), ("alias", "get"), ("alias", "list"), ("alias", "update"),
    ("alias", "promote"), ("alias", "rollback"), ("alias", "delete"), ("alias", "shift"),
    ("cache", "info"), ("cache", "prune"),
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_ends_with_examples_of_the_command(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.output
    lines = result.stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    shown = [line.strip() for line in lines[start + 1 :] if line.strip()]
    assert 2 <= len(shown) <= 3
    for example in shown:
        words = shlex.split(example)
        assert words[: 1 + len(command)] == ["layerkit", *command]
    # Every option an example uses exists: click would refuse it as "No such option".
    help_text = result.stdout
    for example in shown:
        for word in shlex.split(example):
            if word.startswith("--"):
                assert word in help_text, (example, word)
