"""`layerkit init`: templates shipped in the package, rendered, written without overwriting.

The GitHub Actions workflow is checked against SchemaStore's workflow schema (tests/schemas/) and
by its rules (OIDC, no stored keys, artifacts); tests/test_workflow_template.py lints it with
actionlint and runs its matrix and install steps. The network tests build a wheel and run
`layerkit init` from it, and build each template's layer from PyPI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from layerkit import __version__, scaffold
from layerkit.cli import run
from layerkit.config import load_project, resolve_build_settings
from layerkit.errors import ExitCode, FilesystemError, UsageError
from tests.support import REPO_ROOT, isolated_env, run_cli
from tests.wheels import make_wheel, serve_index
from tests.workflow_support import WORKFLOW, load_workflow

ACTION = ".github/actions/layerkit/action.yml"  # the repository's action.yml

PROJECT_TEMPLATES = ("minimal", "data", "arm64")
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "github-workflow.json").read_text())


def _schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]


def _run_text(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in _steps(job))


# --- the template index ---------------------------------------------------------------------


def test_every_listed_template_is_shipped_and_every_shipped_one_listed() -> None:
    names = [t.name for t in scaffold.list_templates()]
    assert names == ["minimal", "data", "arm64", "github-actions"]
    shipped = {p.name for p in (REPO_ROOT / "templates").iterdir() if p.is_dir()} - {"__pycache__"}
    assert shipped == set(names)
    for template in scaffold.list_templates():
        assert template.description
        assert set(template.includes) <= set(names)


def test_unknown_template_suggests_the_closest() -> None:
    with pytest.raises(UsageError) as error:
        scaffold.get_template("minmal")
    assert "unknown template 'minmal'" in error.value.message
    assert error.value.hint is not None and "did you mean 'minimal'?" in error.value.hint


def test_placeholders_are_filled_and_unknown_ones_refused() -> None:
    values = {"name": "deps"}
    assert scaffold.render_text("name = {{name}}; ${{ matrix.python }}", values, source="t") == (
        "name = deps; ${{ matrix.python }}"
    )
    with pytest.raises(UsageError, match=r"unknown placeholder \{\{nmae\}\}"):
        scaffold.render_text("{{nmae}}", values, source="t")


@pytest.mark.parametrize("template", [t.name for t in scaffold.list_templates()])
def test_rendering_leaves_no_placeholder(template: str, tmp_path: Path) -> None:
    for file in scaffold.render_template(template, tmp_path / "my-layer"):
        assert not re.search(r"\{\{[a-z_]+\}\}", file.text), file.path


# --- what each project template writes ------------------------------------------------------


@pytest.mark.parametrize("template", PROJECT_TEMPLATES)
def test_project_template_writes_config_requirements_and_workflow(
    template: str, tmp_path: Path
) -> None:
    dest = tmp_path / "my-layer"
    result = scaffold.init_project(dest, template)
    assert result.template == template and result.overwritten == ()
    assert {"requirements.txt", "README.md", ".gitignore", WORKFLOW} <= set(result.written)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == sorted(
        result.written
    )
    # The configuration is valid for layerkit itself, names the layer after the directory and
    # reads the requirements file that was written beside it.
    settings = resolve_build_settings(load_project(dest), {})
    assert settings.name == "my-layer"
    assert settings.requirement_files == (dest / "requirements.txt",)
    assert f"layerkit {__version__}" in (dest / "README.md").read_text()


def test_data_template_slims_and_excludes_the_sdk(tmp_path: Path) -> None:
    scaffold.init_project(tmp_path / "d", "data")
    settings = resolve_build_settings(load_project(tmp_path / "d"), {})
    assert settings.slim.strip is True and settings.slim.remove_tests is True
    assert set(settings.slim.exclude_distributions) == {"boto3", "botocore"}
    assert [t.slug for t in settings.targets] == ["python3.12-x86_64"]
    requirements = (tmp_path / "d" / "requirements.txt").read_text()
    assert all(name in requirements for name in ("numpy", "pandas", "pyarrow"))


def test_arm64_template_targets_graviton_with_native_dependencies(tmp_path: Path) -> None:
    scaffold.init_project(tmp_path / "g", "arm64")
    settings = resolve_build_settings(load_project(tmp_path / "g"), {})
    assert {t.arch for t in settings.targets} == {"arm64"}
    assert "pydantic" in (tmp_path / "g" / "requirements.txt").read_text()


def test_minimal_template_has_one_pure_python_dependency(tmp_path: Path) -> None:
    scaffold.init_project(tmp_path / "m", "minimal")
    lines = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert requirements == ["aws-lambda-powertools>=3.0,<4"]


# --- refusing to overwrite ------------------------------------------------------------------


def test_existing_files_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mine\n")
    with pytest.raises(UsageError) as error:
        scaffold.init_project(tmp_path, "minimal")
    assert "requirements.txt" in error.value.message
    assert error.value.hint is not None and "--force" in error.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requirements.txt"]
    assert (tmp_path / "requirements.txt").read_text() == "mine\n"


def test_force_overwrites_and_says_which(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mine\n")
    result = scaffold.init_project(tmp_path, "minimal", force=True)
    assert result.overwritten == ("requirements.txt",)
    assert "aws-lambda-powertools" in (tmp_path / "requirements.txt").read_text()


def test_a_directory_in_the_way_is_refused_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "README.md").mkdir()
    with pytest.raises(FilesystemError, match=r"README\.md"):
        scaffold.init_project(tmp_path, "minimal", force=True)
    assert not (tmp_path / "pyproject.toml").exists()


def test_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(FilesystemError, match="not a directory"):
        scaffold.init_project(tmp_path / "f", "minimal")


# --- the CLI --------------------------------------------------------------------------------


def test_cli_init_then_refuses_a_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "proj"
    assert run(["init", str(dest), "--template", "minimal"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"wrote 6 files of template minimal into {dest}" in out
    assert "  .github/workflows/layerkit.yml" in out and "layerkit build" in out
    assert run(["init", str(dest), "--template", "minimal"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "error:" in err and "nothing was written" in err and "hint: use --force" in err
    assert run(["init", str(dest), "--template", "minimal", "--force"]) == ExitCode.OK


def test_cli_init_json_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["init", str(tmp_path), "-t", "github-actions", "--json"]) == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "layerkit/init" and document["template"] == "github-actions"
    assert document["written"] == [ACTION, WORKFLOW] and document["overwritten"] == []
    assert run(["init", "--list", "--json"]) == ExitCode.OK
    listing = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listing["templates"]] == [
        "minimal", "data", "arm64", "github-actions"
    ]  # fmt: skip
    assert run(["init", "--list"]) == ExitCode.OK
    assert "github-actions" in capsys.readouterr().out


def test_cli_unknown_template_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init", str(tmp_path), "--template", "nope"]) == ExitCode.USAGE
    assert "unknown template 'nope'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_init_then_build_in_an_empty_directory(tmp_path: Path) -> None:
    """The issue's promise, hermetic: `layerkit init --template minimal && layerkit build`."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "aws-lambda-powertools", "3.2.0", files={
        "aws_lambda_powertools/__init__.py": b"VERSION = '3.2.0'\n",
    })  # fmt: skip
    project = tmp_path / "empty"
    project.mkdir()
    env = isolated_env({"UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    with serve_index(wheels, tmp_path / "index") as index_url:
        init = run_cli("init", "--template", "minimal", env=env, cwd=project)
        assert init.returncode == 0, init.output
        build = run_cli("build", "--index-url", index_url, "--json", env=env, cwd=project)
    assert build.returncode == 0, build.output
    view = json.loads(build.stdout)
    assert [b["target"] for b in view["builds"]] == ["python3.13-arm64", "python3.13-x86_64"]
    for target in ("python3.13-arm64", "python3.13-x86_64"):
        zip_path = project / "dist" / f"empty-{target}.zip"
        with zipfile.ZipFile(zip_path) as archive:
            assert "python/lib/python3.13/site-packages/aws_lambda_powertools/__init__.py" in (
                archive.namelist()
            )


# --- the GitHub Actions workflow ------------------------------------------------------------


def _workflow(tmp_path: Path, template: str = "minimal") -> dict[str, Any]:
    files = {f.path: f.text for f in scaffold.render_template(template, tmp_path / "w")}
    return load_workflow(files[WORKFLOW])


def _action(tmp_path: Path) -> dict[str, Any]:
    """The composite action the template writes beside the workflow (its `runs` as a job)."""
    files = {f.path: f.text for f in scaffold.render_template("minimal", tmp_path / "a")}
    runs: dict[str, Any] = load_workflow(files[ACTION])["runs"]
    return runs


@pytest.mark.parametrize("template", [*PROJECT_TEMPLATES, "github-actions"])
def test_workflow_is_valid_against_the_github_workflow_schema(
    template: str, tmp_path: Path
) -> None:
    assert _schema_errors(_workflow(tmp_path, template)) == []


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path)
    workflow["jobs"]["build"]["runs-on"] = None
    workflow["jobs"]["publish"]["permissions"]["id-token"] = "yes"
    del workflow["on"]
    assert len(_schema_errors(workflow)) >= 3


def test_workflow_builds_each_target_in_a_parallel_job(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, "minimal")
    build = workflow["jobs"]["build"]
    assert build["needs"] == "targets"  # the matrix is the targets job's output
    assert build["strategy"]["fail-fast"] is False
    (use,) = [s for s in _steps(build) if s.get("uses") == "./.github/actions/layerkit"]
    assert use["with"]["targets"] == "${{ matrix.slug }}"  # one target per job
    run_text = _run_text(_action(tmp_path))
    assert 'layerkit build "$PROJECT_DIR" --python "${python#python}" --arch "${target#*-}"' in (
        run_text
    )
    assert 'SOURCE_DATE_EPOCH="$(git -C "$PROJECT_DIR" log -1 --format=%ct)"' in run_text
    assert "layerkit targets . --json" in _run_text(workflow["jobs"]["targets"])


def test_workflow_publishes_from_main_only_with_oidc_and_no_stored_keys(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path)
    assert workflow["permissions"] == {"contents": "read"}
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    assert "id-token" not in build.get("permissions", {})
    assert publish["needs"] == "build"
    assert publish["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert publish["permissions"] == {"contents": "read", "id-token": "write"}
    (credentials,) = _uses(publish, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == "${{ vars.LAYERKIT_ROLE_ARN }}"
    text = json.dumps(workflow)
    for long_lived in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID"):
        assert long_lived not in text
    assert "layerkit publish dist/*.zip" in _run_text(publish)
    steps = _steps(publish)
    assert steps.index(credentials) < next(
        i for i, s in enumerate(steps) if "layerkit publish" in str(s.get("run", ""))
    )
    for job in (build, publish):
        for checkout in _uses(job, "actions/checkout"):
            assert checkout["with"]["persist-credentials"] is False


def test_workflow_uploads_layer_manifest_and_size_report(tmp_path: Path) -> None:
    workflow, action = _workflow(tmp_path), _action(tmp_path)
    uploads = {
        s["with"]["name"]: s["with"]["path"] for s in _uses(action, "actions/upload-artifact")
    }
    assert uploads == {
        "layer-${{ steps.label.outputs.name }}": "${{ steps.build.outputs.dist }}",
        "size-report-${{ steps.label.outputs.name }}": "${{ steps.build.outputs.reports }}",
        "publish-report-${{ steps.label.outputs.name }}": "${{ runner.temp }}/layerkit-publish/",
    }
    run_text = _run_text(action)
    assert '--output "$DIST" --sbom' in run_text  # zip, manifest and SBOM land in dist
    assert '--json > "$REPORTS/build-$target.json"' in run_text
    assert '--html "$REPORTS/' in run_text
    (download,) = _uses(workflow["jobs"]["publish"], "actions/download-artifact")
    assert download["with"] == {"pattern": "layer-*", "path": "dist", "merge-multiple": True}


# --- packaging: the templates ship inside the wheel -----------------------------------------


def test_pyproject_lists_every_package_of_the_source_tree() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(REPO_ROOT).parts)
        for p in (REPO_ROOT / "layerkit").rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == found | {"layerkit.templates"}
    assert setuptools["package-dir"] == {"layerkit.templates": "templates"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info into the source directory.
    source = tmp_path_factory.mktemp("source")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "layerkit", "templates"):
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        check=True, capture_output=True, env=isolated_env(), timeout=600,
    )  # fmt: skip
    (path,) = out.glob("layerkit-*.whl")
    return path


@pytest.mark.network
def test_wheel_ships_every_template_file_including_dotfiles(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {
        f"layerkit/templates/{p.relative_to(REPO_ROOT / 'templates').as_posix()}"
        for p in (REPO_ROOT / "templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert "layerkit/templates/github-actions/.github/workflows/layerkit.yml" in shipped
    assert "layerkit/templates/minimal/.gitignore" in shipped
    assert shipped <= names
    assert not any("__pycache__" in n for n in names)


@pytest.mark.network
def test_init_works_from_the_installed_wheel_not_the_checkout(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    code = (
        "import sys, layerkit; from layerkit.cli import run; "
        "print(layerkit.__file__); sys.exit(run(['init', 'proj', '--template', 'minimal']))"
    )
    env = isolated_env({"PYTHONPATH": str(unpacked)})
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(unpacked / "layerkit" / "__init__.py")
    assert (tmp_path / "proj" / WORKFLOW).is_file()
    assert (tmp_path / "proj" / ".gitignore").is_file()


# --- the real thing: each template's layer built from PyPI ----------------------------------


@pytest.mark.network
@pytest.mark.parametrize("template", PROJECT_TEMPLATES)
def test_template_builds_from_pypi(template: str, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    assert run_cli("init", str(project), "--template", template).returncode == 0
    build = run_cli("build", str(project), "--json", env=isolated_env(), timeout=900)
    assert build.returncode == 0, build.output
    view = json.loads(build.stdout)
    settings = resolve_build_settings(load_project(project), {})
    assert sorted(b["target"] for b in view["builds"]) == sorted(t.slug for t in settings.targets)
    for built in view["builds"]:
        assert built["unzipped_bytes"] <= built["budget_bytes"]
        assert Path(built["zip"]).is_file()


def test_init_does_not_import_boto3(tmp_path: Path) -> None:
    code = (
        "import sys; from layerkit.cli import run; "
        f"code = run(['init', {str(tmp_path / 'p')!r}, '-q']); "
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "0 []"
