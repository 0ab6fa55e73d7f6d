"""What `publish` and `deploy` hand to the next step of a CI pipeline: ARNs, versions, digests.

Three values per published layer version: ``layer-arn``, ``layer-version`` and ``code-sha256``
(Lambda's ``CodeSha256``, base64). The key scheme, a pure function of what was published:

- one target in one region: ``layer-arn``, ``layer-version``, ``code-sha256``;
- several targets: the target is added, as in layer names (``python3.12`` -> ``python312``):
  ``layer-arn-python312-arm64``;
- several regions: the region is added last: ``layer-arn-eu-west-1``,
  ``layer-arn-python312-arm64-eu-west-1``.

A version that was only planned (``--dry-run``) or that failed has no ARN and gives no keys.

Two ways out, both written only after the command's AWS work is done:

- ``GITHUB_OUTPUT`` (set by GitHub Actions): the keys above, appended as ``key=value`` lines in
  GitHub's file format, a value with a line break in the ``key<<DELIMITER`` form. The block is
  appended with one ``write`` on a descriptor opened with ``O_APPEND``, so what earlier steps
  wrote stays and no reader sees half a block.
- ``--output-env FILE``: the same values as ``KEY=value`` lines for any CI (a shell can
  ``source`` it, GitLab's ``dotenv`` report reads it): keys in upper case with ``_``
  (``LAYER_ARN_PYTHON312_ARM64``); a value with a character a shell would interpret is single-
  quoted. The file is replaced atomically (written beside, then renamed).
"""

from __future__ import annotations

import os
import re
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from layerkit.errors import FilesystemError
from layerkit.safewrite import commit, temporary_beside

GITHUB_OUTPUT = "GITHUB_OUTPUT"
_SHELL_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]*$")


class Published(Protocol):
    """What the outputs need of one region's result (`publishing.RegionResult` has it)."""

    @property
    def region(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def layer_arn(self) -> str | None: ...
    @property
    def version(self) -> int | None: ...
    @property
    def code_sha256(self) -> str: ...


@dataclass(frozen=True)
class OutputValue:
    """One output: its GitHub key (``layer-arn-python312-arm64``) and its value."""

    key: str
    value: str

    @property
    def env_key(self) -> str:
        """The same key for an env file: ``LAYER_ARN_PYTHON312_ARM64``."""
        return re.sub(r"[^A-Z0-9_]", "_", self.key.upper())


def _target_key(slug: str) -> str:
    """``python3.12-arm64`` -> ``python312-arm64`` (the `{python}` spelling of layer names)."""
    return slug.replace(".", "")


def output_values(results: Sequence[Published]) -> tuple[OutputValue, ...]:
    """The outputs for `results`, keyed as the module docstring says; sorted by key."""
    done = [r for r in results if r.layer_arn is not None and r.version is not None]
    several_targets = len({r.target for r in done}) > 1
    several_regions = len({r.region for r in done}) > 1
    values: list[OutputValue] = []
    for r in done:
        suffix = "".join(
            [
                f"-{_target_key(r.target)}" if several_targets else "",
                f"-{r.region}" if several_regions else "",
            ]
        )
        values += [
            OutputValue(f"layer-arn{suffix}", str(r.layer_arn)),
            OutputValue(f"layer-version{suffix}", str(r.version)),
            OutputValue(f"code-sha256{suffix}", r.code_sha256),
        ]
    return tuple(sorted(values, key=lambda v: v.key))


def github_output_text(values: Sequence[OutputValue]) -> str:
    """GitHub's output-file format: ``key=value``, or the delimiter form for a multi-line value."""
    lines: list[str] = []
    for v in values:
        if "\n" in v.value or "\r" in v.value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            lines += [f"{v.key}<<{delimiter}", v.value, delimiter]
        else:
            lines.append(f"{v.key}={v.value}")
    return "".join(f"{line}\n" for line in lines)


def env_file_text(values: Sequence[OutputValue]) -> str:
    """``KEY=value`` lines; values a shell would interpret are single-quoted."""
    return "".join(
        f"{v.env_key}={v.value if _SHELL_SAFE.match(v.value) else shlex.quote(v.value)}\n"
        for v in values
    )


def append_github_output(path: Path, values: Sequence[OutputValue]) -> None:
    """Append the block to GitHub's output file in one write (earlier steps' lines stay)."""
    data = github_output_text(values).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise FilesystemError(
            f"cannot append the outputs to {path} ({GITHUB_OUTPUT}): {exc.strerror}",
            hint=f"{GITHUB_OUTPUT} must name a writable file (GitHub Actions sets it)",
        ) from exc
    if written != len(data):
        raise FilesystemError(f"only {written} of {len(data)} bytes reached {path}")


def write_env_file(path: Path, values: Sequence[OutputValue]) -> None:
    """Replace `path` with the ``KEY=value`` lines, atomically."""
    partial: Path | None = None
    try:
        fd, partial = temporary_beside(path)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(env_file_text(values))
        commit(partial, path)
    except OSError as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise FilesystemError(
            f"cannot write {path}: {exc.strerror}", hint="give --output-env a writable path"
        ) from exc


def write_outputs(
    results: Sequence[Published], *, github_output: str | None, env_file: Path | None
) -> None:
    """Write the outputs of `results` where the caller asked: GitHub's file and/or an env file."""
    if not github_output and env_file is None:
        return
    values = output_values(results)
    if github_output:
        append_github_output(Path(github_output), values)
    if env_file is not None:
        write_env_file(env_file, values)
