"""docs/architecture.md's module-layer diagram is the one `python -m tests.archdiagram` generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import archdiagram
from tests.archdiagram import BEGIN, DOC, END, current_block, imports, layer_of, render, write


def test_the_diagram_in_the_doc_is_the_generated_one() -> None:
    block = current_block(DOC.read_text())
    assert block, f"{DOC} lost its archdiagram markers"
    # On failure: run `python -m tests.archdiagram --write` and commit docs/architecture.md.
    assert block == render()


def test_every_module_of_the_package_is_in_the_table() -> None:
    block = render()
    for module in archdiagram.modules():
        assert f"| `{module}` |" in block


def test_imports_are_read_as_the_interpreter_resolves_them(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import layerkit.errors\n"
        "from layerkit import config, targets as t\n"
        "from layerkit.aws import layers\n"
        "from . import shift\n"
        "from .errors import translate\n"
        "from layerkit.budget import size_report\n"
        "if TYPE_CHECKING:\n"
        "    from layerkit.manifest import Manifest\n"
        "else:\n"
        "    from layerkit.report import to_jsonable\n"
        "def later():\n"
        "    from layerkit.installer import install\n"
    )
    known = {"errors", "config", "targets", "aws", "aws.layers", "aws.shift", "aws.errors",
             "budget", "manifest", "report", "installer", "aws.alarms"}  # fmt: skip
    found = imports("aws.alarms", source, known)
    assert found == {"errors", "config", "targets", "aws.layers", "aws.shift", "aws.errors",
                     "budget", "report", "installer"}  # fmt: skip


def test_layers_come_from_the_declared_patterns_with_core_as_default() -> None:
    assert [layer_of(m) for m in ("cli", "commands.build_commands", "workflow", "releasing")] == [
        "commands",
        "commands",
        "usecases",
        "usecases",
    ]
    assert [layer_of(m) for m in ("aws.layers", "installer", "slim.plan", "build_model")] == [
        "aws",
        "boundaries",
        "core",
        "core",
    ]


def test_write_replaces_a_stale_block_and_keeps_the_rest(tmp_path: Path) -> None:
    doc = tmp_path / "architecture.md"
    doc.write_text(f"# Title\n\nprose\n\n{BEGIN}\nold diagram\n{END}\n\nafter\n")
    assert write(doc) is True
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose\n\n") and text.endswith(f"{END}\n\nafter\n")
    assert current_block(text) == render()
    assert write(doc) is False
    assert doc.read_text() == text


def test_write_refuses_a_doc_without_markers(tmp_path: Path) -> None:
    doc = tmp_path / "architecture.md"
    doc.write_text("# no markers\n")
    with pytest.raises(SystemExit):
        write(doc)
    assert doc.read_text() == "# no markers\n"
