"""Issue 14: the README's tour runs as written, start to finish, against moto.

The tour's commands are read from README.md and run one by one through the real CLI (in-process,
so the 5-minute interval of its traffic shift passes on an injected clock). The world the tour
assumes is made first: a function `my-fn` (python3.13, x86_64) with versions 1-11 and an alias
`prod` on 11, an alarm `my-fn-errors`, a bucket `my-artifacts`. The template's requirement is
served by a package index on 127.0.0.1 (UV_INDEX_URL, which uv reads as a user's setting).
"""

from __future__ import annotations

import glob
import io
import shlex
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from layerkit import releasing as shift
from tests.aws_support import aws, lk, make_bucket, make_function
from tests.release_support import FakeTime
from tests.support import REPO_ROOT
from tests.wheels import make_wheel, serve_index

REGION = "eu-west-1"


def tour_commands() -> list[str]:
    """The commands of the README's tour, comments removed, `a && b` split."""
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split("## A tour", 1)[1].split("```", 2)[1]
    commands: list[str] = []
    for line in block.strip().splitlines():
        line = line.split("  #", 1)[0].strip()
        commands.extend(part.strip() for part in line.split("&&"))
    return commands


@pytest.fixture
def powertools_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dists = tmp_path_factory.mktemp("tour-dists")
    make_wheel(dists, "aws-lambda-powertools", "3.4.0")
    with serve_index(dists, tmp_path_factory.mktemp("tour-index")) as url:
        yield url


def _world(env: dict[str, str]) -> None:
    make_bucket(env, "my-artifacts", region=REGION)
    make_function(env, "my-fn", region=REGION, arch="x86_64", runtime="python3.13")
    lam = aws(env, "lambda", REGION)
    for number in range(1, 12):
        lam.update_function_configuration(FunctionName="my-fn", Description=f"release {number}")
        lam.publish_version(FunctionName="my-fn")
    lam.create_alias(FunctionName="my-fn", Name="prod", FunctionVersion="11")
    aws(env, "cloudwatch", REGION).put_metric_alarm(
        AlarmName="my-fn-errors", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip


def test_the_readme_tour_runs_as_written(
    tmp_path: Path,
    aws_env: dict[str, str],
    powertools_index: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        **aws_env,
        "AWS_DEFAULT_REGION": REGION,
        "UV_INDEX_URL": powertools_index,
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "LAYERKIT_CACHE_DIR": str(tmp_path / "layerkit-cache"),
    }
    _world(env)
    fake = FakeTime()
    kwdefaults = cast("dict[str, Any]", shift.execute_shift.__kwdefaults__)
    monkeypatch.setitem(kwdefaults, "sleep", fake.sleep)
    monkeypatch.setitem(kwdefaults, "clock", fake.clock)
    monkeypatch.chdir(tmp_path)
    commands = tour_commands()
    assert [c.split()[:2] for c in commands] == [
        ["layerkit", "init"], ["cd", "my-layer"], ["layerkit", "build"],
        ["layerkit", "inspect"], ["layerkit", "publish"], ["layerkit", "attach"],
        ["layerkit", "version"], ["layerkit", "alias"],
    ]  # fmt: skip
    for command in commands:
        words = shlex.split(command)
        if words[0] == "cd":
            monkeypatch.chdir(words[1])
            continue
        args = [match for word in words[1:] for match in (sorted(glob.glob(word)) or [word])]
        result = lk(env, *args)
        assert result.returncode == 0, (command, result.output)

    lam = aws(env, "lambda", REGION)
    layer = f"arn:aws:lambda:{REGION}:123456789012:layer:my-layer-python313-x86_64:1"
    pinned = lam.get_function_configuration(FunctionName="my-fn", Qualifier="12")
    assert [entry["Arn"] for entry in pinned["Layers"]] == [layer]
    alias = lam.get_alias(FunctionName="my-fn", Name="prod")
    assert alias["FunctionVersion"] == "12"
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert fake.slept and sum(fake.slept) >= 600  # two 5-minute intervals, on the fake clock
    assert (tmp_path / "my-layer" / "size.html").is_file()
    content = lam.get_layer_version(LayerName="my-layer-python313-x86_64", VersionNumber=1)
    zip_path = tmp_path / "my-layer" / "dist" / "my-layer-python3.13-x86_64.zip"
    with zipfile.ZipFile(io.BytesIO(zip_path.read_bytes())) as archive:
        assert any("aws_lambda_powertools" in name for name in archive.namelist())
    assert content["CompatibleArchitectures"] == ["x86_64"]
