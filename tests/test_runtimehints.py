"""Run-time hints: packages that write to /opt or HOME get a note with the variable that fixes it,
in build and inspect, and again from attach when the function's environment does not set it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from layerkit.manifest import DistributionInfo
from layerkit.runtimehints import HINTS, hints_for, notes_for, unset_notes
from tests.aws_support import BUCKET, aws, lk, make_bucket, make_function, write_layer_zip
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index

MPL_NOTE = next(h.note for h in HINTS if h.variable == "MPLCONFIGDIR")


def test_every_hint_names_its_source_and_a_tmp_directory() -> None:
    for hint in HINTS:
        assert hint.source.startswith("https://"), hint
        assert hint.value.startswith("/tmp/"), hint
    assert [h.variable for h in hints_for(["Matplotlib", "numba", "requests"])] == [
        "MPLCONFIGDIR", "NUMBA_CACHE_DIR",
    ]  # fmt: skip
    assert unset_notes(hints_for(["numba"]), {"NUMBA_CACHE_DIR": "/tmp/n"}) == ()
    assert notes_for(["huggingface_hub"]) == (
        "huggingface-hub writes downloaded models, datasets and its token to ~/.cache/huggingface "
        "(transformers, datasets and sentence-transformers use it), read-only on Lambda: set "
        "HF_HOME=/tmp/huggingface in the function's environment",
    )


def test_build_and_inspect_note_a_package_that_writes_at_run_time(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dists = tmp_path / "dists"
    make_wheel(dists, "matplotlib", "3.9.0")
    with serve_index(dists, tmp_path / "index") as index:
        project = tmp_path / "proj"
        project.mkdir()
        (project / "requirements.txt").write_text("matplotlib\n")
        built = run_cli("build", str(project), "--index-url", index, "--python", "3.12",
                        "-o", str(tmp_path / "o"), "--json", env=env)  # fmt: skip
    assert built.returncode == 0, built.stderr
    build = json.loads(built.stdout)["builds"][0]
    assert build["notes"] == [MPL_NOTE]
    inspected = run_cli("inspect", build["zip"], "--json", env=env)
    assert MPL_NOTE in json.loads(inspected.stdout)["notes"]


def test_attach_repeats_the_note_until_the_function_sets_the_variable(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    zip_path, manifest = write_layer_zip(tmp_path)
    with_mpl = dataclasses.replace(manifest, distributions=(DistributionInfo("matplotlib", "3.9",
                                                                             1, 10),))  # fmt: skip
    zip_path.with_suffix(".json").write_text(with_mpl.to_json())
    make_bucket(aws_env)
    make_function(aws_env, "plots")
    args = ("publish", str(zip_path), "--bucket", BUCKET, "--region", "eu-west-1",
            "--attach", "plots", "--json")  # fmt: skip
    first = lk(aws_env, *args)
    assert first.returncode == 0, first.stderr
    [attached] = json.loads(first.stdout)["results"][0]["attachments"]
    assert attached["notes"] == [MPL_NOTE]
    aws(aws_env, "lambda").update_function_configuration(
        FunctionName="plots", Environment={"Variables": {"MPLCONFIGDIR": "/tmp/mpl"}}
    )
    again = lk(aws_env, *args)
    assert again.returncode == 0, again.stderr
    [attached] = json.loads(again.stdout)["results"][0]["attachments"]
    assert attached["notes"] == []
