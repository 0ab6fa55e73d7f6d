"""What the last `layerkit build` into an output directory made, and whether it is still current.

`build` (and `deploy`) leave ``.layerkit-last-build.json`` in the output directory: the zips it
wrote (file name, sha256, target) and a digest of each input a user edits — every requirements
file it read, each key of the configuration's build table, `[project].dependencies`. `publish`
without ZIP arguments publishes exactly those zips (never names re-derived from today's
configuration) and refuses them when an input changed since, naming what changed.
Local package directories are rebuilt on every build and are not compared.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerkit.config import BuildSettings, ProjectConfig
from layerkit.errors import FilesystemError, InputFileError, UsageError
from layerkit.manifest import read_manifest
from layerkit.report import shown_path, to_jsonable

LAST_BUILD_FILE = ".layerkit-last-build.json"
LAST_BUILD_SCHEMA = "layerkit/last-build"
_MISSING = "missing"


@dataclass(frozen=True)
class BuiltZip:
    zip: str  # file name inside the output directory
    sha256: str
    target: str


@dataclass(frozen=True)
class LastBuild:
    output_dir: Path
    zips: tuple[BuiltZip, ...]
    inputs: Mapping[str, str]  # label -> digest
    requirement_files: tuple[Path, ...]  # the files the build read

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.output_dir / z.zip for z in self.zips)


def _digest(value: Any) -> str:
    text = json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return _MISSING


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def current_inputs(config: ProjectConfig, requirement_files: Iterable[Path]) -> dict[str, str]:
    """A digest per user-edited input: requirements files, configuration keys, project deps."""
    where = config.source.name if config.source is not None else "configuration"
    base = config.project_dir
    inputs = {
        f"requirements file {_shown(path, base)}": _file_digest(path) for path in requirement_files
    }
    inputs.update({f"{key} in {where}": _digest(value) for key, value in config.build.items()})
    inputs["[project].dependencies"] = _digest(list(config.project_dependencies))
    return inputs


def record_last_build(
    settings: BuildSettings, config: ProjectConfig, zips: Iterable[tuple[Path, str, str]]
) -> None:
    """Write the record of a finished build: (zip path, sha256, target slug) per zip."""
    document = {
        "schema": LAST_BUILD_SCHEMA,
        "zips": [{"zip": p.name, "sha256": sha, "target": t} for p, sha, t in zips],
        "inputs": current_inputs(config, settings.requirement_files),
        "requirement_files": [str(p) for p in settings.requirement_files],
    }
    path = settings.output_dir / LAST_BUILD_FILE
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise FilesystemError(f"cannot write {path}: {exc.strerror}") from exc


def read_last_build(output_dir: Path) -> LastBuild:
    """The record `record_last_build` left in `output_dir`."""
    path = output_dir / LAST_BUILD_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(
            f"no build recorded in {shown_path(output_dir)}",
            hint="run `layerkit build` first, or name the zips to publish",
        ) from exc
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"cannot read {shown_path(path)}: {exc}", hint="run `layerkit build`"
        ) from exc
    try:
        if document["schema"] != LAST_BUILD_SCHEMA:
            raise KeyError("schema")
        zips = tuple(
            BuiltZip(str(z["zip"]), str(z["sha256"]), str(z["target"])) for z in document["zips"]
        )
        inputs = {str(k): str(v) for k, v in document["inputs"].items()}
        files = tuple(Path(str(p)) for p in document["requirement_files"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputFileError(f"{shown_path(path)} is damaged", hint="run `layerkit build`") from exc
    return LastBuild(output_dir, zips, inputs, files)


def changed_inputs(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """What differs between the build's inputs and today's, in words."""
    changes: list[str] = []
    for label in sorted(set(recorded) | set(current)):
        before, now = recorded.get(label), current.get(label)
        if before == now:
            continue
        if before is None:
            changes.append(f"{label} was added")
        elif now is None or now == _MISSING:
            changes.append(f"{label} was removed")
        else:
            changes.append(f"{label} changed")
    return changes


def zips_of_last_build(
    config: ProjectConfig, output_dir: Path, *, allow_stale: bool
) -> tuple[tuple[Path, ...], list[str]]:
    """The last build's zips and what changed since (refused unless `allow_stale`)."""
    record = read_last_build(output_dir)
    for built, path in zip(record.zips, record.paths, strict=True):
        if not path.is_file():
            raise UsageError(
                f"{shown_path(path)} of the last build is gone", hint="run `layerkit build` again"
            )
        manifest = read_manifest(path)
        if manifest.sha256 != built.sha256:
            raise UsageError(
                f"{path.name} is not the zip the last build wrote (sha256 differs)",
                hint="run `layerkit build` again, or name the zips to publish",
            )
    changes = changed_inputs(record.inputs, current_inputs(config, record.requirement_files))
    if changes and not allow_stale:
        raise UsageError(
            f"the last build in {shown_path(output_dir)} is stale: {'; '.join(changes)}",
            hint="run `layerkit build` again (or publish it anyway with --allow-stale)",
        )
    return record.paths, changes
