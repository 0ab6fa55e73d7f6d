"""Start-up: what a command loads. Commands that do not talk to AWS never import boto3, and a
build the cache serves loads nothing of the install/verify/zip path (see `workflow.build_target`).
Timing itself is the benchmark's business (bench/run.py); these tests hold what makes it fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import cast

import typer

from layerkit.cli import COMMAND_MODULES, make_app
from tests.build_fixtures import make_project
from tests.support import isolated_env, run_cli


def _imported_modules(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> set[str]:
    """Run `code` in a fresh interpreter; return the modules it imported (written to a file, as
    the commands print their own output)."""
    listing = tmp_path / "modules.txt"
    script = f"import sys\n{code}\nopen({str(listing)!r}, 'w').write('\\n'.join(sys.modules))"
    subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                   env=env or isolated_env(), check=True)  # fmt: skip
    return set(listing.read_text().split())


def test_help_and_build_do_not_import_boto3(tmp_path: Path) -> None:
    modules = _imported_modules(
        "from layerkit.cli import run\n"
        "for argv in (['--help'], ['build', '--help'], ['build', '/nonexistent']):\n"
        "    try:\n        run(argv)\n    except SystemExit:\n        pass",
        tmp_path,
    )
    assert "layerkit.cli" in modules
    assert "layerkit.config" in modules  # the build really ran (and failed reading its project)
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore")}


def test_the_import_test_loads_neither_aws_nor_the_installers(tmp_path: Path) -> None:
    modules = _imported_modules(
        "from layerkit.cli import run\n"
        "for argv in (['test', '--help'], ['test', '/nonexistent.zip']):\n"
        "    try:\n        run(argv)\n    except SystemExit:\n        pass",
        tmp_path,
    )
    assert "layerkit.commands.test_commands" in modules
    assert "layerkit.importtest" in modules  # the test really ran (and refused the path)
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore", "uv", "cyclonedx")}
    assert {m for m in modules if m.startswith("layerkit.commands.")} == {
        "layerkit.commands.test_commands",
        "layerkit.commands.common",
    }


# What only a build from scratch needs: the installer's path, slimming, ELF checks, the zip writer
# and its codecs, and the reader that measures a layer from its zip.
BUILD_FROM_SCRATCH = (
    "layerkit.assembly", "layerkit.slim", "layerkit.verify", "layerkit.inspection",
    "layerkit.bytecode",  # the interpreter found is remembered: a hit runs and compiles nothing
    "layerkit.provenance", "layerkit.elf", "layerkit.linkage", "layerkit.runtime_libs",
    "zlib_ng.zlib_ng", "isal.isal_zlib",
    "packaging",  # a lock's plain `name==version` lines are read without it
    "layerkit.sbom", "cyclonedx.",  # the SBOM is kept with the cached build (the top package
    # is read for its version only)
)  # fmt: skip


def test_a_build_the_cache_serves_loads_nothing_of_a_build_from_scratch(
    tmp_path: Path, index_url: str, env: dict[str, str]
) -> None:
    env = {**env, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    project = make_project(tmp_path, "purepkg==1.0\nhelperpkg==1.2\n")  # a lock: no resolution
    argv = ["build", str(project), "-o", str(tmp_path / "o"), "--index-url", index_url, "-q",
            "--sbom"]  # fmt: skip
    first = run_cli(*argv, env=env)
    assert first.returncode == 0, first.output
    modules = _imported_modules(
        f"from layerkit.cli import run\nassert run({argv!r}) == 0", tmp_path, env
    )
    assert "layerkit.workflow" in modules and "layerkit.cache" in modules
    assert not {m for m in modules if m.split(".")[0] in ("rich", "boto3", "botocore")}
    loaded = {m for m in modules if m.startswith(BUILD_FROM_SCRATCH)}
    assert not loaded, f"a cache hit loaded {sorted(loaded)}"
    # only the module of the command that ran was registered
    assert {m for m in modules if m.startswith("layerkit.commands.")} == {
        "layerkit.commands.build_commands",
        "layerkit.commands.common",
    }


def test_targets_json_loads_no_aws_no_rich_and_nothing_of_a_build(tmp_path: Path) -> None:
    """The generated workflow's first job runs `layerkit targets . --json` on every push."""
    modules = _imported_modules(
        f"from layerkit.cli import run\nassert run(['targets', {str(tmp_path)!r}, '--json']) == 0",
        tmp_path,
    )
    assert "layerkit.matrix" in modules
    assert not {m for m in modules if m.split(".")[0] in ("rich", "boto3", "botocore")}
    assert not {m for m in modules if m.startswith((*BUILD_FROM_SCRATCH, "layerkit.workflow"))}
    assert {m for m in modules if m.startswith("layerkit.commands.")} == {
        "layerkit.commands.targets_commands",
        "layerkit.commands.common",
    }


def _registered_names(app: typer.Typer) -> set[str]:
    commands = {info.name or "" for info in app.registered_commands}
    groups = {
        info.name or (cast(typer.Typer, info.typer_instance).info.name or "")
        for info in app.registered_groups
    }
    return commands | groups


def test_each_command_module_adds_the_commands_the_cli_table_names() -> None:
    for module, names in COMMAND_MODULES.items():
        app = make_app([names[0]])
        assert _registered_names(app) == set(names), module


def test_help_and_unknown_commands_see_every_command() -> None:
    everything = {name for names in COMMAND_MODULES.values() for name in names}
    for argv in ([], ["--help"], ["--debug"], ["buidl"], ["--help", "build"]):
        assert _registered_names(make_app(argv)) == everything, argv
    assert _registered_names(make_app(["--debug", "inspect", "x.zip"])) == {"build", "inspect"}
