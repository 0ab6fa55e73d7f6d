"""The command layer: `--json` output has one renderer (`layerkit.rendering`), and it takes only
frozen dataclasses; a flag group (`commands.common.takes_flag_groups`) reaches the command as its
dataclass; command modules do not import each other."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from layerkit.cli import COMMAND_MODULES
from layerkit.commands.common import takes_flag_groups
from layerkit.rendering import json_document
from tests.support import REPO_ROOT


@dataclass(frozen=True)
class Inner:
    b: int
    a: tuple[str, ...]


@dataclass(frozen=True)
class Outer:
    zeta: str
    inner: Inner
    alpha: dict[int, str]


@dataclass
class Mutable:
    value: int


def test_the_document_is_the_envelope_then_the_fields_in_declared_order() -> None:
    text = json_document("thing", Outer("z", Inner(1, ("x",)), {3: "three"}))
    assert list(json.loads(text)) == ["schema", "schema_version", "zeta", "inner", "alpha"]
    assert json.loads(text)["inner"] == {"b": 1, "a": ["x"]}
    assert json.loads(text)["alpha"] == {"3": "three"}
    assert json.loads(text)["schema"] == "layerkit/thing"


@pytest.mark.parametrize("result", [{"a": 1}, Mutable(1), Outer, [1]], ids=repr)
def test_only_a_frozen_dataclass_is_rendered(result: Any) -> None:
    with pytest.raises(TypeError, match="frozen dataclass"):
        json_document("thing", result)


@dataclass(frozen=True)
class Group:
    first: Annotated[str, typer.Option("--first", help="First.")] = "one"
    flag: Annotated[bool, typer.Option("--flag", help="A flag.")] = False


def test_a_flag_group_is_options_to_typer_and_a_dataclass_to_the_command() -> None:
    received: list[object] = []

    @takes_flag_groups
    def command(
        name: Annotated[str, typer.Argument()],
        *,
        group: Group,
        last: Annotated[int, typer.Option("--last")] = 0,
    ) -> None:
        received.append((name, group, last))

    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # two commands: `command` is a subcommand by name
    result = CliRunner().invoke(app, ["command", "n", "--flag", "--first", "uno", "--last", "3"])
    assert result.exit_code == 0, result.output
    assert received == [("n", Group(first="uno", flag=True), 3)]
    help_text = CliRunner().invoke(app, ["command", "--help"]).output
    assert help_text.index("--first") < help_text.index("--flag") < help_text.index("--last")


def _layerkit_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("layerkit.commands.")}


@pytest.mark.parametrize("module", sorted(COMMAND_MODULES))
def test_a_command_module_imports_no_other_command_module(module: str) -> None:
    """What commands share (`deploy` builds like `build`) lives in `commands.common` or below
    `commands`, so that each command module can be loaded, changed and read alone."""
    path = REPO_ROOT / "layerkit" / "commands" / f"{module}.py"
    assert _layerkit_imports(path) <= {"layerkit.commands.common"}
