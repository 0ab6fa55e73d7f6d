"""The build manifest written beside each layer zip, and reading it back.

The manifest is what later commands (publish, attach, inspect) trust about a zip: its target, its
digest and — because Lambda's API only reports zipped sizes — its unzipped size.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerkit.errors import InputFileError
from layerkit.report import SCHEMA_VERSION, to_jsonable
from layerkit.targets import Target, make_target

MANIFEST_SCHEMA = "layerkit/manifest"


@dataclass(frozen=True)
class DistributionInfo:
    """One installed distribution and what it weighs in the layer."""

    name: str
    version: str
    files: int
    bytes: int
    wheel_sha256: str = ""  # hex digest of the wheel it was installed from ('' if unknown)


@dataclass(frozen=True)
class Manifest:
    """What a layer zip contains and how it was made."""

    layerkit_version: str
    name: str
    python: str
    arch: str
    runtime: str
    abi: str
    glibc: str
    installer: str  # the installer that installed the layer (see `resolver`)
    installer_version: str
    zip: str
    sha256: str
    code_sha256: str
    file_count: int
    unzipped_bytes: int
    zipped_bytes: int
    budget_bytes: int
    distributions: tuple[DistributionInfo, ...]
    inputs_digest: str = ""
    # The bytecode shipped: the full version of the interpreter that compiled it ('' for none),
    # how many .pyc and their bytes.
    bytecode_interpreter: str = ""
    bytecode_files: int = 0
    bytecode_bytes: int = 0
    # "name version" of each package that had only an sdist and was built into a pure wheel
    built_from_sdist: tuple[str, ...] = ()
    # The lock file the layer was installed from (its name and the sha256 of its bytes), or ''.
    lock_file: str = ""
    lock_sha256: str = ""
    # "name version" of the installer that resolved the layer when it is not the one that
    # installed it: pip for a glibc 2.26 target installed by uv (`installer.install_resolved`).
    resolver: str = ""

    @property
    def target(self) -> Target:
        return make_target(self.python, self.arch)

    def to_json(self) -> str:
        document = {
            "schema": MANIFEST_SCHEMA,
            "schema_version": SCHEMA_VERSION,
            **to_jsonable(self),
        }
        return json.dumps(document, indent=2) + "\n"


def code_sha256(sha256_hex: str) -> str:
    """Lambda's ``CodeSha256``: base64 of the raw SHA-256 digest."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def manifest_path_for(zip_path: Path) -> Path:
    """``dist/deps-python3.12-arm64.zip`` -> ``dist/deps-python3.12-arm64.json``."""
    return zip_path.with_suffix(".json")


SBOM_SUFFIX = ".cdx.json"


def sbom_path_for(zip_path: Path) -> Path:
    """``dist/deps-python3.12-arm64.zip`` -> ``dist/deps-python3.12-arm64.cdx.json``."""
    return zip_path.with_name(zip_path.name.removesuffix(".zip") + SBOM_SUFFIX)


# Namespace of SBOM serial numbers: uuid5(namespace, zip sha256) names one layer zip.
_SBOM_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://layerkit.invalid/sbom")


def sbom_serial_number(manifest: Manifest) -> uuid.UUID:
    """The serial number of the zip's SBOM: the same for the same zip, different for any other."""
    return uuid.uuid5(_SBOM_SERIAL_NAMESPACE, manifest.sha256)


def parse_manifest(document: dict[str, Any], *, source: str) -> Manifest:
    """Validate a manifest document (as loaded from JSON)."""
    if document.get("schema") != MANIFEST_SCHEMA:
        raise InputFileError(f"{source} is not a layerkit manifest")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise InputFileError(
            f"{source} has manifest schema_version {document.get('schema_version')!r}; "
            f"this layerkit reads {SCHEMA_VERSION}",
            hint="rebuild the layer with this version of layerkit",
        )
    try:
        fields = {k: v for k, v in document.items() if k not in ("schema", "schema_version")}
        fields["distributions"] = tuple(DistributionInfo(**d) for d in fields["distributions"])
        fields["built_from_sdist"] = tuple(fields.get("built_from_sdist", ()))
        manifest = Manifest(**fields)
    except (KeyError, TypeError) as exc:
        raise InputFileError(f"{source} is a damaged layerkit manifest: {exc}") from exc
    _check_types(manifest, source)
    for distribution in manifest.distributions:
        _check_types(distribution, source)
    return manifest


_FIELD_TYPES: dict[str, type] = {"str": str, "int": int}


def _check_types(item: Manifest | DistributionInfo, source: str) -> None:
    """Every str/int field holds that type (JSON could give a list, a bool or a float)."""
    for spec in dataclasses.fields(item):
        expected = _FIELD_TYPES.get(str(spec.type))
        value = getattr(item, spec.name)
        if expected is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            raise InputFileError(
                f"{source} is a damaged layerkit manifest: '{spec.name}' must be {spec.type}, "
                f"got {type(value).__name__}",
                hint="rebuild the layer with `layerkit build` (it writes the manifest)",
            )


def read_manifest(zip_path: Path) -> Manifest:
    """Read the manifest beside `zip_path`; raise `InputFileError` if missing or damaged."""
    path = manifest_path_for(zip_path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputFileError(
            f"no manifest {path.name} beside {zip_path.name}",
            hint="publish zips built by `layerkit build` (the manifest records runtime, "
            "architecture and unzipped size)",
        ) from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise InputFileError(f"cannot read manifest {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise InputFileError(f"{path} is not a layerkit manifest")
    return parse_manifest(document, source=str(path))
