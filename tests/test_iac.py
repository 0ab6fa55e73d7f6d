"""docs/iac: the SAM template, CDK app and Terraform module that consume a layer layerkit built.

The SAM template is validated with cfn-lint (SAM transformed to CloudFormation, then checked
against CloudFormation's resource schemas, all shipped in the package: no network). CDK needs
Node.js, so its app is compiled and read, not synthesised; `terraform validate` needs the AWS
provider downloaded, so the module is parsed with python-hcl2 and checked for what it reads.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import py_compile
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import yaml
from cfnlint.decode import decode_str

from layerkit.manifest import Manifest
from layerkit.outputs import OutputValue
from layerkit.targets import make_target
from tests.support import REPO_ROOT
from tests.workflow_support import SCRIPTS

IAC = REPO_ROOT / "docs" / "iac"
SAM = IAC / "sam" / "template.yaml"
CDK = IAC / "cdk" / "app.py"
TERRAFORM = IAC / "terraform" / "main.tf"
MANIFEST_FIELDS = {f.name for f in dataclasses.fields(Manifest)}
LAYER_ARN_ENV = OutputValue("layer-arn", "").env_key  # what --output-env names the ARN
TARGET = make_target("3.12", "arm64")


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / "cfn-lint"), "--", str(path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _sam() -> dict[str, Any]:
    template, matches = decode_str(SAM.read_text())
    assert matches == [] and template is not None
    return dict(template)


def test_the_sam_template_passes_cfn_lint() -> None:
    result = _cfn_lint(SAM)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_cfn_lint_catches_a_broken_sam_template(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(
        SAM.read_text()
        .replace("CompatibleArchitectures:", "CompatibleArchitecture:")
        .replace("!Ref DepsLayer]", "!Ref DepLayer]")
    )
    result = _cfn_lint(broken)
    assert result.returncode != 0
    assert "CompatibleArchitecture" in result.stdout and "DepLayer" in result.stdout


def test_the_sam_template_takes_layerkit_s_arn_or_its_zip() -> None:
    template = _sam()
    pattern = template["Parameters"]["LayerArn"]["AllowedPattern"]
    arn = "arn:aws:lambda:eu-west-1:123456789012:layer:deps-python312-arm64:7"
    assert re.fullmatch(pattern, arn) and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "arn:aws:lambda:eu-west-1:123456789012:function:fn")
    layer = template["Resources"]["DepsLayer"]["Properties"]
    # the zip `layerkit build` writes for the target, and the target's runtime and architecture
    assert Path(layer["ContentUri"]).name == f"deps-{TARGET.slug}.zip"
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (
        [TARGET.runtime], [TARGET.arch],
    )  # fmt: skip
    function = template["Resources"]["Function"]["Properties"]
    assert (function["Runtime"], function["Architectures"]) == (TARGET.runtime, [TARGET.arch])


def _string_constants(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_the_cdk_app_compiles_and_reads_what_layerkit_writes(tmp_path: Path) -> None:
    py_compile.compile(str(CDK), cfile=str(tmp_path / "app.pyc"), doraise=True)
    tree = ast.parse(CDK.read_text())
    environ_reads = {
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "os.environ.get"
        and isinstance(n.args[0], ast.Constant)
    }  # fmt: skip
    assert environ_reads == {LAYER_ARN_ENV, "LAYERKIT_ZIP"}
    manifest_keys = {
        n.slice.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript) and ast.unparse(n.value) == "manifest"
        and isinstance(n.slice, ast.Constant)
    }  # fmt: skip
    assert manifest_keys == {"runtime", "arch", "sha256", "name", "code_sha256"}
    assert manifest_keys <= MANIFEST_FIELDS
    assert f"../../../dist/deps-{TARGET.slug}.zip" in _string_constants(tree)
    assert json.loads((IAC / "cdk" / "cdk.json").read_text()) == {"app": "python3 app.py"}


def _unquoted(value: Any) -> Any:
    """python-hcl2 8 keeps the quotes of block labels and strings; older releases drop them."""
    if isinstance(value, dict):
        return {_unquoted(k): _unquoted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unquoted(v) for v in value]
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def test_the_terraform_module_parses_and_reads_what_layerkit_writes() -> None:
    text = TERRAFORM.read_text()
    module = _unquoted(hcl2.loads(text))
    declared = {name for block in module["variable"] for name in block}
    assert set(re.findall(r"\bvar\.(\w+)", text)) == declared
    assert set(re.findall(r"\blocal\.manifest\.(\w+)", text)) <= MANIFEST_FIELDS
    (resources,) = [r for r in module["resource"] if "aws_lambda_layer_version" in r]
    layer = resources["aws_lambda_layer_version"]["deps"]
    assert layer["source_code_hash"] == "${local.manifest.code_sha256}"
    assert layer["filename"] == "${var.layer_zip}"
    assert layer["count"] == "${var.layer_arn == null ? 1 : 0}"
    (default,) = [b["layer_zip"]["default"] for b in module["variable"] if "layer_zip" in b]
    assert Path(default).name == f"deps-{TARGET.slug}.zip"
    (functions,) = [r for r in module["resource"] if "aws_lambda_function" in r]
    assert functions["aws_lambda_function"]["function"]["layers"] == ["${local.layer_arn}"]
    assert {name for block in module["output"] for name in block} == {"layer_arn", "code_sha256"}


def test_the_readme_snippets_use_the_action_s_inputs_and_outputs_and_real_flags() -> None:
    readme = (IAC / "README.md").read_text()
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    (block,) = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    steps = yaml.safe_load(block)
    assert set(steps[0]["with"]) <= set(action["inputs"])
    used = re.findall(r"steps\.layer\.outputs\.([\w-]+)", block)
    assert used and set(used) <= set(action["outputs"])
    (shell,) = re.findall(r"```\n(layerkit publish.*?)```", readme, re.S)
    assert "--env prod --output-env layer.env" in shell and f"${LAYER_ARN_ENV}" in shell
    for relative in re.findall(r"\]\(([\w/.]+)\)", readme):
        assert (IAC / relative).is_file(), relative
