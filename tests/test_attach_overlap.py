"""Issue 14: two layers on one function shipping the same distribution are refused.

The scenario of the issue: a layer published under its old single-target name is attached; the
project moves to one layer per target and publishes with --attach: the new layer ships the same
packages, and Lambda would let one silently shadow the other.
"""

from __future__ import annotations

import http.server
import io
import os
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

from layerkit.aws.content import download_listing
from tests.aws_support import aws, doc, lk, make_function, publish_layer_version
from tests.support import run_cli


def _project(tmp_path: Path, index_url: str, *, template: str = "") -> Path:
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    (project / "requirements.txt").write_text("purepkg\n")
    (project / "pyproject.toml").write_text(
        f'[tool.layerkit]\nname = "deps"\nrequirements = "requirements.txt"\npython = "3.12"\n'
        f'arch = "arm64"\nindex-url = "{index_url}"\n\n[tool.layerkit.publish]\n'
        f'direct = true\nregions = ["eu-west-1"]\n{template}'
    )
    return project


def _layers(env: dict[str, str], function: str) -> list[str]:
    config = aws(env, "lambda").get_function_configuration(FunctionName=function)
    return [layer["Arn"] for layer in config.get("Layers", [])]


def test_a_renamed_layer_shipping_the_same_packages_is_refused_then_allowed(
    tmp_path: Path, index_url: str, env: dict[str, str], aws_env: dict[str, str]
) -> None:
    make_function(aws_env, "my-fn", arch="arm64")
    project = _project(tmp_path, index_url)
    both = {**env, **aws_env}
    first = run_cli("deploy", str(project), "--attach", "my-fn", "--json", env=both)
    assert first.returncode == 0, first.output
    (old,) = doc(first)["publish"]["results"]
    assert _layers(aws_env, "my-fn") == [old["layer_arn"]]

    _project(tmp_path, index_url, template='layer-name = "{name}-{python}-{arch}"\n')
    refused = run_cli("deploy", str(project), "--attach", "my-fn", "--json", env=both)
    assert refused.returncode == 6, refused.output
    (new,) = doc(refused)["publish"]["results"]
    assert new["layer_name"] == "deps-python312-arm64"
    message = new["attach_failures"][0]["error"]
    assert "helperpkg, purepkg" in message
    assert old["layer_arn"] in message and new["layer_arn"] in message
    assert "--allow-overlap" in refused.stderr
    assert _layers(aws_env, "my-fn") == [old["layer_arn"]]  # nothing changed

    # The same refusal from `attach`, which finds the packages in the project's manifests.
    attach = lk(aws_env, "attach", "my-fn", "--layer", new["layer_arn"], "--project", str(project))
    assert attach.returncode == 6, attach.output
    assert "two layers shipping the same distribution: helperpkg, purepkg" in attach.stderr
    allowed = lk(
        aws_env, "attach", "my-fn", "--layer", new["layer_arn"], "--project", str(project),
        "--allow-overlap", "--json",
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.output
    (result,) = doc(allowed)["results"]
    assert any(note.startswith("overlap allowed: helperpkg, purepkg") for note in result["notes"])
    assert _layers(aws_env, "my-fn") == [old["layer_arn"], new["layer_arn"]]


def test_a_layer_whose_contents_cannot_be_read_is_attached_with_a_note(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    make_function(aws_env, "my-fn", arch="arm64")
    other = publish_layer_version(aws_env, "by-hand")
    result = lk(aws_env, "attach", "my-fn", "--layer", other, "--project", str(tmp_path), "--json")
    assert result.returncode == 0, result.output
    (entry,) = doc(result)["results"]
    assert entry["notes"] == [f"could not tell which packages {other} ships: overlap not checked"]


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one zip, honouring `Range: bytes=a-b` and counting the bytes sent."""

    body = b""
    sent: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        first, last = self.headers["Range"].removeprefix("bytes=").split("-")
        chunk = self.body[int(first) : int(last) + 1]
        self.sent.append(len(chunk))
        self.send_response(206)
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk)

    def log_message(self, *args: object) -> None:
        pass


def test_a_layer_is_listed_from_its_download_url_reading_only_the_central_directory() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/lib/python3.12/site-packages/Foo_Bar-1.0.dist-info/METADATA", "x")
        archive.writestr("python/lib/python3.12/site-packages/foo_bar/big.bin", os.urandom(1 << 20))
        archive.writestr("python/six-1.16.0.dist-info/METADATA", "x")
    _RangeHandler.body = buffer.getvalue()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/layer.zip"
        found = download_listing(url, len(_RangeHandler.body), schemes=("http://",))
        assert download_listing(url, len(_RangeHandler.body)) is None  # production: https only
    finally:
        server.shutdown()
        server.server_close()
    assert found == frozenset({"foo-bar", "six"})
    assert sum(_RangeHandler.sent) < 200_000  # the 1 MiB member was never downloaded
