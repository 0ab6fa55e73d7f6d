"""The exact command lines each installer runs, for every runtime x arch."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from layerkit.config import IndexOptions
from layerkit.errors import CompatibilityError, InstallerError, RequirementsError, ResolutionError
from layerkit.installer import (
    CommandResult,
    InstallRequest,
    PipBackend,
    UvBackend,
    classify_failure,
    install,
)
from layerkit.targets import ARCHITECTURES, PYTHON_VERSIONS, Target, make_target

ALL_TARGETS = [make_target(p, a) for p in PYTHON_VERSIONS for a in ARCHITECTURES]
UV_PLATFORM = {
    ("2.26", "x86_64"): "x86_64-manylinux_2_17",
    ("2.26", "arm64"): "aarch64-manylinux_2_17",
    ("2.34", "x86_64"): "x86_64-manylinux_2_34",
    ("2.34", "arm64"): "aarch64-manylinux_2_34",
}


def _request(target: Target, **kwargs: object) -> InstallRequest:
    return InstallRequest(
        target=target,
        dest=Path("/stage/site"),
        requirement_files=(Path("/p/requirements.txt"),),
        requirements=("requests==2.32.3",),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("target", ALL_TARGETS, ids=str)
def test_uv_argv(target: Target) -> None:
    glibc = f"{target.glibc[0]}.{target.glibc[1]}"
    argv = UvBackend(uv="/bin/uv", python="/host/python").command(_request(target))
    assert argv == [
        "/bin/uv", "pip", "install",
        "--target", "/stage/site",
        "--python", "/host/python",
        "--python-version", target.python,
        "--python-platform", UV_PLATFORM[(glibc, target.arch)],
        "--only-binary", ":all:",
        "--no-progress",
        "-r", "/p/requirements.txt",
        "requests==2.32.3",
    ]  # fmt: skip


@pytest.mark.parametrize("target", ALL_TARGETS, ids=str)
def test_pip_argv(target: Target) -> None:
    argv = PipBackend(python="/host/python").command(_request(target))
    platforms = [f"--platform={tag}" for tag in target.manylinux_tags]
    joined = [f"{a}={b}" for a, b in itertools.pairwise(argv) if a == "--platform"]
    assert joined == platforms
    without_platforms = [
        a for i, a in enumerate(argv) if a != "--platform" and argv[i - 1] != "--platform"
    ]
    assert without_platforms == [
        "/host/python", "-m", "pip", "install",
        "--target", "/stage/site",
        "--only-binary=:all:",
        "--python-version", target.python,
        "--implementation", "cp",
        "--abi", target.cpython_abi,
        "--abi", "abi3",
        "--abi", "none",
        "--no-compile",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar", "off",
        "-r", "/p/requirements.txt",
        "requests==2.32.3",
    ]  # fmt: skip


@pytest.mark.parametrize("backend", [UvBackend(uv="uv", python="py"), PipBackend(python="py")])
def test_index_options_reach_the_command(backend: UvBackend | PipBackend) -> None:
    index = IndexOptions(
        index_url="https://idx.example/simple",
        extra_index_urls=("https://a.example/simple", "https://b.example/simple"),
        find_links=("/wheels",),
    )
    argv = backend.command(_request(make_target("3.12", "arm64"), index=index))
    text = " ".join(argv)
    assert "--index-url https://idx.example/simple" in text
    assert (
        "--extra-index-url https://a.example/simple --extra-index-url https://b.example/simple"
        in text
    )
    assert "--find-links /wheels" in text
    # requirement inputs always come last
    assert argv[-3:] == ["-r", "/p/requirements.txt", "requests==2.32.3"]


def _failed(stderr: str) -> CommandResult:
    return CommandResult(("uv", "pip", "install"), 1, "", stderr)


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        (
            "error: No solution found when resolving dependencies\n  cause: Because psycopg2==2.9.10"
            " has no usable wheels and you require psycopg2==2.9.10, we can conclude that your "
            "requirements are unsatisfiable.",
            CompatibilityError,
        ),
        (
            "  cause: Because numpy==2.3.0 has no wheels with a matching platform tag "
            "(e.g., `manylinux_2_26_x86_64`)",
            CompatibilityError,
        ),
        (
            "  cause: Because nonexistent-pkg was not found in the package registry and you "
            "require nonexistent-pkg, we can conclude that your requirements are unsatisfiable.",
            ResolutionError,
        ),
        ("error: Couldn't parse requirement in `r.txt` at position 0", RequirementsError),
        ("error: Hash mismatch for `six==1.17.0`", ResolutionError),
        (
            "ERROR: Could not find a version that satisfies the requirement foo (from versions: "
            "none)\nERROR: No matching distribution found for foo",
            ResolutionError,
        ),
    ],
)
def test_failures_are_classified(stderr: str, error: type[Exception]) -> None:
    classified = classify_failure(
        _failed(stderr), backend="uv", target=make_target("3.11", "x86_64")
    )
    assert type(classified) is error
    assert classified.hint


def test_install_raises_with_the_installer_output() -> None:
    seen: list[list[str]] = []

    def runner(
        argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        seen.append(list(argv))
        return CommandResult(tuple(argv), 1, "", "  cause: Because x==1 has no usable wheels")

    backend = UvBackend(uv="uv", python="py")
    request = _request(make_target("3.12", "x86_64"))
    with pytest.raises(CompatibilityError) as raised:
        install(request, backend=backend, runner=runner)
    assert seen == [backend.command(request)]
    assert "x==1 has no usable wheels" in raised.value.message
    assert "python3.12 x86_64" in raised.value.message
    assert raised.value.returncode == 1


def _fake_uv(tmp_path: Path, script: str) -> str:
    uv = tmp_path / "uv"
    uv.write_text(f"#!/bin/sh\n{script}\n")
    uv.chmod(0o755)
    return str(uv)


def test_uv_version_is_asked_of_the_binary_that_runs(tmp_path: Path) -> None:
    uv = _fake_uv(tmp_path, 'echo "uv 9.8.7 (x86_64-unknown-linux-gnu)"')
    assert UvBackend(uv=uv, python="py").version() == "9.8.7"


@pytest.mark.parametrize(
    "script", ["echo 'not uv at all'; exit 0", "echo 'uv: broken' >&2; exit 3", "exit 0"]
)
def test_a_uv_that_cannot_say_its_version_is_an_installer_error(
    tmp_path: Path, script: str
) -> None:
    uv = _fake_uv(tmp_path, script)
    with pytest.raises(InstallerError) as raised:
        UvBackend(uv=uv, python="py").version()
    assert uv in raised.value.message
    assert raised.value.hint


def test_a_uv_that_cannot_be_run_is_an_installer_error(tmp_path: Path) -> None:
    uv = _fake_uv(tmp_path, 'echo "uv 9.8.7"')
    Path(uv).chmod(0o644)
    with pytest.raises(InstallerError) as raised:
        UvBackend(uv=uv, python="py").version()
    assert f"cannot run {uv}" in raised.value.message


def test_a_missing_uv_is_an_installer_error(tmp_path: Path) -> None:
    with pytest.raises(InstallerError) as raised:
        UvBackend(uv=str(tmp_path / "no-uv"), python="py").version()
    assert "not found" in raised.value.message
