from __future__ import annotations

from pathlib import Path

import pytest

from layerkit.config import (
    load_project,
    parse_size,
    resolve_build_settings,
    resolve_publish_settings,
)
from layerkit.errors import ConfigError, InputFileError, TargetError, UsageError
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT


def _project(tmp_path: Path, pyproject: str = "", layerkit_toml: str | None = None) -> Path:
    (tmp_path / "requirements.txt").write_text("six\n")
    if pyproject:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    if layerkit_toml is not None:
        (tmp_path / "layerkit.toml").write_text(layerkit_toml)
    return tmp_path


def test_tool_layerkit_table_is_read(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        '[project]\nname = "my.app"\ndependencies = ["six"]\n'
        '[tool.layerkit]\npython = ["3.11", "3.12"]\narch = "arm64"\nbudget = "200MB"\n'
        'exclude = ["boto3"]\n[tool.layerkit.publish]\nbucket = "b"\nregions = ["eu-west-1"]\n',
    )
    config = load_project(project)
    settings = resolve_build_settings(config, {})
    assert settings.name == "my-app"
    assert [t.slug for t in settings.targets] == ["python3.11-arm64", "python3.12-arm64"]
    assert settings.budget_bytes == 200 * 1024 * 1024
    assert settings.requirements == ("six",)
    assert settings.slim.exclude_distributions == ("boto3",)
    assert settings.output_dir == project / "dist"
    publish = resolve_publish_settings(config, {"bucket": "other"})
    assert (publish.bucket, publish.regions) == ("other", ("eu-west-1",))


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    project = _project(
        tmp_path, layerkit_toml='requirements = ["requirements.txt"]\npython = "3.11"\n'
    )
    settings = resolve_build_settings(load_project(project), {"python": ("3.13",), "name": "x"})
    assert [t.python for t in settings.targets] == ["3.13"]
    assert settings.name == "x"
    assert settings.requirement_files == (project / "requirements.txt",)
    # requirements files given: [project].dependencies are not added by default
    assert settings.requirements == ()


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.layerkit]\npyhton = '3.12'\n")
    with pytest.raises(ConfigError, match="unknown key 'pyhton'") as raised:
        load_project(project)
    assert "did you mean 'python'" in (raised.value.hint or "")


def test_unknown_publish_key_is_an_error(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.layerkit.publish]\nbuckett = 'x'\n")
    with pytest.raises(ConfigError, match=r"publish: unknown key 'buckett'"):
        load_project(project)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("python = 3.12", "'python' must be a string or a list of strings"),
        ("strip = 'yes'", "'strip' must be true or false"),
        ("budget = true", "'budget' must be a byte count"),
        ("name = ['a']", "'name' must be a string"),
        ("requirements = [1, 2]", "'requirements' must be a string or a list"),
    ],
)
def test_wrong_types_are_errors(tmp_path: Path, line: str, message: str) -> None:
    project = _project(tmp_path, f"[tool.layerkit]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_project(project)


def test_malformed_toml_is_a_config_error(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.layerkit\npython = '3.12'\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_project(project)


def test_two_config_sources_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.layerkit]\nname = 'a'\n", layerkit_toml="name = 'b'\n")
    with pytest.raises(ConfigError, match="both"):
        load_project(project)


def test_missing_requirements_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        resolve_build_settings(load_project(tmp_path), {"requirements": ("nope.txt",)})


def test_nothing_to_install(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nothing to install"):
        resolve_build_settings(load_project(tmp_path), {})


def test_unknown_target_from_config(tmp_path: Path) -> None:
    project = _project(
        tmp_path, layerkit_toml="requirements = 'requirements.txt'\npython = '3.8'\n"
    )
    with pytest.raises(TargetError):
        resolve_build_settings(load_project(project), {})


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("250MB", LAMBDA_UNZIPPED_LIMIT),
        ("250 MiB", LAMBDA_UNZIPPED_LIMIT),
        ("1kb", 1024),
        ("1.5GB", int(1.5 * 1024**3)),
        ("123", 123),
        (262144000, LAMBDA_UNZIPPED_LIMIT),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "12 parsecs", "-5", "0"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_budget_cannot_exceed_lambda_limit(tmp_path: Path) -> None:
    project = _project(tmp_path, layerkit_toml="requirements = 'requirements.txt'\n")
    resolve_build_settings(load_project(project), {"budget": str(LAMBDA_UNZIPPED_LIMIT)})
    with pytest.raises(ConfigError, match="above Lambda's limit"):
        resolve_build_settings(load_project(project), {"budget": str(LAMBDA_UNZIPPED_LIMIT + 1)})


def test_invalid_layer_name(tmp_path: Path) -> None:
    project = _project(tmp_path, layerkit_toml="requirements = 'requirements.txt'\n")
    with pytest.raises(ConfigError, match="may only contain"):
        resolve_build_settings(load_project(project), {"name": "bad name!"})
