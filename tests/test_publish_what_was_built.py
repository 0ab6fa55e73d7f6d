"""Issue 14, publishing: stable layer names, exactly the last build, stale builds refused.

Real builds (wheels made here, served on 127.0.0.1) published with the real CLI to moto.
"""

from __future__ import annotations

from pathlib import Path

from tests.aws_support import (
    BUCKET,
    aws,
    doc,
    lk,
    make_bucket,
    version_numbers,
    write_layer_zip,
)
from tests.support import run_cli


def _project(tmp_path: Path, index_url: str, *, arch: str, extra: str = "") -> Path:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    (project / "requirements.txt").write_text("purepkg\n")
    (project / "pyproject.toml").write_text(
        f'[tool.layerkit]\nname = "deps"\nrequirements = "requirements.txt"\npython = "3.12"\n'
        f'arch = {arch}\nindex-url = "{index_url}"\n\n[tool.layerkit.publish]\n'
        f'bucket = "{BUCKET}"\nregions = ["eu-west-1"]\n{extra}'
    )
    return project


def _build(project: Path, env: dict[str, str], *args: str) -> None:
    built = run_cli("build", str(project), "-q", *args, env=env)
    assert built.returncode == 0, built.output


def _layer_names(env: dict[str, str]) -> list[str]:
    return sorted(layer["LayerName"] for layer in aws(env, "lambda").list_layers()["Layers"])


def test_a_layer_name_does_not_depend_on_how_many_zips_are_published(
    tmp_path: Path, index_url: str, env: dict[str, str], aws_env: dict[str, str]
) -> None:
    both = {**env, **aws_env}
    make_bucket(aws_env)
    project = _project(tmp_path, index_url, arch='"x86_64"')
    _build(project, both)
    first = lk(aws_env, "publish", "--project", str(project), "--json")
    assert first.returncode == 0, first.output
    assert _layer_names(aws_env) == ["deps"]  # the default template is "{name}"

    # A second architecture: the default would give both targets the layer "deps" -> refused
    # before any call, with the template that tells them apart; nothing new appears.
    _project(tmp_path, index_url, arch='["x86_64", "arm64"]')
    _build(project, both)
    refused = lk(aws_env, "publish", "--project", str(project))
    assert refused.returncode == 2, refused.output
    assert "python3.12-arm64 and python3.12-x86_64 the same layer 'deps'" in refused.stderr
    assert 'layer-name = "{name}-{python}-{arch}"' in refused.stderr
    assert _layer_names(aws_env) == ["deps"]

    # With the documented template, each target has its own name whether published together
    # or one at a time.
    _project(
        tmp_path,
        index_url,
        arch='["x86_64", "arm64"]',
        extra='layer-name = "{name}-{python}-{arch}"\n',
    )
    _build(project, both)
    together = lk(aws_env, "publish", "--project", str(project), "--json")
    assert together.returncode == 0, together.output
    names = sorted(r["layer_name"] for r in doc(together)["results"])
    assert names == ["deps-python312-arm64", "deps-python312-x86_64"]
    alone = lk(
        aws_env, "publish", str(project / "dist" / "deps-python3.12-arm64.zip"),
        "--project", str(project), "--json",
    )  # fmt: skip
    assert alone.returncode == 0, alone.output
    (result,) = doc(alone)["results"]
    assert (result["layer_name"], result["outcome"]) == ("deps-python312-arm64", "unchanged")


def test_a_template_that_names_two_targets_alike_or_has_unknown_fields_is_refused(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "layerkit.toml").write_text(
        'name = "deps"\npackages = ["six"]\npython = ["3.11", "3.12"]\n'
        f'[publish]\nbucket = "{BUCKET}"\nlayer-name = "{{name}}-{{arch}}"\n'
    )
    zip_path, _ = write_layer_zip(project / "dist", python="3.12", arch="x86_64")
    refused = lk(aws_env, "publish", str(zip_path), "--project", str(project))
    assert refused.returncode == 2, refused.output
    assert "python3.11-x86_64 and python3.12-x86_64 the same layer 'deps-x86_64'" in refused.stderr
    unknown = lk(
        aws_env, "publish", str(zip_path), "--project", str(project), "--layer-name", "{nme}"
    )
    assert unknown.returncode == 2, unknown.output
    assert "unknown field {nme}" in unknown.stderr
    assert _layer_names(aws_env) == []


def test_publish_takes_exactly_the_zips_of_the_last_build(
    tmp_path: Path, index_url: str, env: dict[str, str], aws_env: dict[str, str]
) -> None:
    make_bucket(aws_env)
    template = 'layer-name = "{name}-{python}-{arch}"\n'
    project = _project(tmp_path, index_url, arch='"x86_64"', extra=template)
    both = {**env, **aws_env}
    _build(project, both)  # python3.12 (configured): stays in dist/, not the last build
    _build(project, both, "--python", "3.11", "--arch", "arm64")
    result = lk(aws_env, "publish", "--project", str(project), "--json")
    assert result.returncode == 0, result.output
    (published,) = doc(result)["results"]
    assert published["target"] == "python3.11-arm64"
    assert Path(published["zip"]).name == "deps-python3.11-arm64.zip"
    assert published["layer_name"] == "deps-python311-arm64"
    assert _layer_names(aws_env) == ["deps-python311-arm64"]

    # -o names another output directory; the last build there is what gets published.
    _build(project, both, "-o", str(tmp_path / "elsewhere"), "--name", "other")
    other = lk(aws_env, "publish", "--project", str(project), "-o", str(tmp_path / "elsewhere"))
    assert other.returncode == 0, other.output
    assert version_numbers(aws_env, "other-python312-x86_64") == [1]


def test_a_stale_build_is_refused_naming_what_changed(
    tmp_path: Path, index_url: str, env: dict[str, str], aws_env: dict[str, str]
) -> None:
    make_bucket(aws_env)
    project = _project(tmp_path, index_url, arch='"x86_64"')
    _build(project, {**env, **aws_env})
    (project / "requirements.txt").write_text("purepkg\nfatpkg\n")
    refused = lk(aws_env, "publish", "--project", str(project))
    assert refused.returncode == 2, refused.output
    assert "is stale: requirements file requirements.txt changed" in refused.stderr
    assert "layerkit build" in refused.stderr and "--allow-stale" in refused.stderr
    assert _layer_names(aws_env) == []

    (project / "requirements.txt").write_text("purepkg\n")  # back as built: fine again
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace('python = "3.12"', 'python = "3.12"\nexclude = ["helperpkg"]')
    )
    still = lk(aws_env, "publish", "--project", str(project))
    assert still.returncode == 2
    assert "exclude in pyproject.toml was added" in still.stderr

    allowed = lk(aws_env, "publish", "--project", str(project), "--allow-stale")
    assert allowed.returncode == 0, allowed.output
    assert "stale build (--allow-stale): exclude in pyproject.toml was added" in allowed.stderr
    assert version_numbers(aws_env, "deps") == [1]


def _objects(env: dict[str, str]) -> list[str]:
    return [o["Key"] for o in aws(env, "s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_bucket_flag_wins_over_direct_in_the_configuration(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    make_bucket(aws_env)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "layerkit.toml").write_text('packages = ["six"]\n[publish]\ndirect = true\n')
    zip_path, manifest = write_layer_zip(tmp_path / "dist")
    result = lk(
        aws_env, "publish", str(zip_path), "--project", str(project),
        "--bucket", BUCKET, "--region", "eu-west-1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert (entry["upload"], entry["s3_bucket"]) == ("uploaded", BUCKET)
    assert _objects(aws_env) == [f"layerkit/deps/{manifest.sha256}.zip"]


def test_an_unchanged_layer_published_through_s3_leaves_no_new_object(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    make_bucket(aws_env)
    zip_path, _ = write_layer_zip(tmp_path / "dist")
    direct = lk(aws_env, "publish", str(zip_path), "--direct", "--region", "eu-west-1")
    assert direct.returncode == 0, direct.output
    again = lk(
        aws_env, "publish", str(zip_path), "--no-direct", "--bucket", BUCKET,
        "--region", "eu-west-1", "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.output
    (entry,) = doc(again)["results"]
    assert (entry["outcome"], entry["upload"], entry["version"]) == ("unchanged", "unneeded", 1)
    assert _objects(aws_env) == []
    assert version_numbers(aws_env, "deps") == [1]


def test_deploy_takes_every_build_key_as_a_flag(
    tmp_path: Path, index_url: str, env: dict[str, str], aws_env: dict[str, str]
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "requirements.txt").write_text("purepkg\nfatpkg\n")
    result = run_cli(
        "deploy", str(project), "--python", "3.12", "--arch", "arm64", "--name", "flags",
        "--index-url", index_url, "--exclude", "fatpkg", "-o", str(tmp_path / "out"),
        "--direct", "--region", "eu-west-1", "--json",
        env={**env, **aws_env},
    )  # fmt: skip
    assert result.returncode == 0, result.output
    (published,) = doc(result)["publish"]["results"]
    assert (published["layer_name"], published["target"]) == ("flags", "python3.12-arm64")
    (built,) = doc(result)["build"]["builds"]
    assert {d["name"] for d in built["distributions"]} == {"purepkg", "helperpkg"}
    assert Path(built["zip"]).parent == tmp_path / "out"
    fetched = aws(aws_env, "lambda").get_layer_version(LayerName="flags", VersionNumber=1)
    assert fetched["CompatibleArchitectures"] == ["arm64"]


def test_publish_and_deploy_dry_runs_change_nothing_and_speak_conditionally(
    tmp_path: Path, index_url: str, env: dict[str, str], aws_env: dict[str, str]
) -> None:
    make_bucket(aws_env)
    project = _project(tmp_path, index_url, arch='"x86_64"')
    both = {**env, **aws_env}
    dry = run_cli("deploy", str(project), "--attach", "my-fn", "--dry-run", env=both)
    assert dry.returncode == 0, dry.output
    assert "eu-west-1  deps  would publish a new version from" in dry.stdout
    assert "would attach to: my-fn" in dry.stdout
    assert "(dry run: nothing uploaded, published or attached)" in dry.stdout
    assert _layer_names(aws_env) == [] and _objects(aws_env) == []

    published = lk(aws_env, "publish", "--project", str(project))
    assert published.returncode == 0, published.output
    again = lk(aws_env, "publish", "--project", str(project), "--dry-run", "--json")
    assert again.returncode == 0, again.output
    document = doc(again)
    assert document["dry_run"] is True
    assert [r["outcome"] for r in document["results"]] == ["unchanged"]
    (project / "requirements.txt").write_text("purepkg\n# a comment changes the file\n")
    stale = lk(aws_env, "publish", "--project", str(project), "--dry-run")
    assert stale.returncode == 2  # a dry run checks what a real run checks


def test_layers_delete_refuses_a_version_in_use_unless_forced(aws_env: dict[str, str]) -> None:
    from tests.aws_support import make_function, publish_layer_version

    used = publish_layer_version(aws_env, "deps")
    make_function(aws_env, "my-fn", layers_=[used])
    aws(aws_env, "lambda").publish_version(FunctionName="my-fn")
    aws(aws_env, "lambda").update_function_configuration(FunctionName="my-fn", Layers=[])
    # Only the published version 1 uses it now: that still counts.
    refused = lk(aws_env, "layers", "delete", "deps", "1", "--region", "eu-west-1")
    assert refused.returncode == 2, refused.output
    assert "layer deps version 1 is used by my-fn:1" in refused.stderr
    dry = lk(aws_env, "layers", "delete", "deps", "1", "--force", "--dry-run",
             "--region", "eu-west-1")  # fmt: skip
    assert dry.returncode == 0, dry.output
    assert "would delete deps version 1 (eu-west-1); still used by my-fn:1" in dry.stdout
    assert version_numbers(aws_env, "deps") == [1]
    forced = lk(aws_env, "layers", "delete", "deps", "1", "--force", "--region", "eu-west-1",
                "--json")  # fmt: skip
    assert forced.returncode == 0, forced.output
    assert (doc(forced)["deleted"], doc(forced)["used_by"]) == (True, ["my-fn:1"])
    assert version_numbers(aws_env, "deps") == []
