"""The CycloneDX SBOM written beside a layer zip: valid, complete, reproducible."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from layerkit.manifest import DistributionInfo, Manifest, sbom_path_for, sbom_serial_number
from layerkit.sbom import sbom_json

SHA = "ab" * 32
EPOCH_1980 = 315_532_800


def _manifest(**changes: Any) -> Manifest:
    manifest = Manifest(
        layerkit_version="0.1.0",
        name="deps",
        python="3.12",
        arch="arm64",
        runtime="python3.12",
        abi="cp312",
        glibc="2.34",
        installer="uv",
        installer_version="0.5.0",
        zip="deps-python3.12-arm64.zip",
        sha256=SHA,
        code_sha256="q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
        file_count=120,
        unzipped_bytes=3_000_000,
        zipped_bytes=1_000_000,
        budget_bytes=262_144_000,
        distributions=(
            DistributionInfo("Typing_Extensions", "4.12.2", 3, 100_000),
            DistributionInfo("pydantic-core", "2.27.1", 10, 2_000_000),
            DistributionInfo("requests", "2.32.3", 20, 900_000),
        ),
    )
    return dataclasses.replace(manifest, **changes)


def _document(manifest: Manifest, timestamp: int = EPOCH_1980) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sbom_json(manifest, timestamp=timestamp))
    return document


def test_sbom_is_valid_cyclonedx_1_6() -> None:
    text = sbom_json(_manifest(), timestamp=EPOCH_1980)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"


def test_one_component_per_distribution_with_a_pypi_purl() -> None:
    components = _document(_manifest())["components"]
    assert [(c["name"], c["version"], c["purl"], c["type"]) for c in components] == [
        ("pydantic-core", "2.27.1", "pkg:pypi/pydantic-core@2.27.1", "library"),
        ("requests", "2.32.3", "pkg:pypi/requests@2.32.3", "library"),
        ("typing-extensions", "4.12.2", "pkg:pypi/typing-extensions@4.12.2", "library"),
    ]
    assert all(c["bom-ref"] == c["purl"] for c in components)
    sizes = {c["name"]: {p["name"]: p["value"] for p in c["properties"]} for c in components}
    assert sizes["requests"] == {"layerkit:files": "20", "layerkit:unzipped-bytes": "900000"}


def test_metadata_names_the_layer_and_its_target() -> None:
    metadata = _document(_manifest())["metadata"]
    layer = metadata["component"]
    assert layer["name"] == "deps-python3.12-arm64.zip" and layer["type"] == "file"
    assert layer["hashes"] == [{"alg": "SHA-256", "content": SHA}]
    facts = {p["name"]: p["value"] for p in layer["properties"]}
    assert facts["layerkit:runtime"] == "python3.12"
    assert facts["layerkit:architecture"] == "arm64"
    assert facts["layerkit:glibc"] == "2.34" and facts["layerkit:abi"] == "cp312"
    assert facts["layerkit:name"] == "deps"
    (tool,) = metadata["tools"]["components"]
    assert tool["name"] == "layerkit"


def test_the_layer_depends_on_every_distribution() -> None:
    document = _document(_manifest())
    layer_ref = document["metadata"]["component"]["bom-ref"]
    (layer,) = [d for d in document["dependencies"] if d["ref"] == layer_ref]
    assert sorted(layer["dependsOn"]) == sorted(c["bom-ref"] for c in document["components"])


def test_wheel_hashes_are_recorded_when_the_manifest_has_them() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithHash(DistributionInfo):
        wheel_sha256: str = ""

    manifest = _manifest(distributions=(WithHash("requests", "2.32.3", 20, 900_000, "cd" * 32),))
    (component,) = _document(manifest)["components"]
    assert component["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    (without,) = _document(_manifest(distributions=_manifest().distributions[2:]))["components"]
    assert "hashes" not in without


def test_same_layer_same_bytes_and_no_wall_clock() -> None:
    assert sbom_json(_manifest(), timestamp=EPOCH_1980) == sbom_json(
        _manifest(), timestamp=EPOCH_1980
    )
    document = _document(_manifest(), timestamp=1_700_000_000)
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert document["serialNumber"] == f"urn:uuid:{sbom_serial_number(_manifest())}"


def test_serial_number_follows_the_zip_digest() -> None:
    assert sbom_serial_number(_manifest()) == sbom_serial_number(_manifest(name="other"))
    assert sbom_serial_number(_manifest()) != sbom_serial_number(_manifest(sha256="cd" * 32))


def test_the_sbom_time_is_the_builds_source_date_epoch() -> None:
    from layerkit.archive import zip_timestamp  # what the build passes (workflow, SBOM step)

    def stamp(env: dict[str, str]) -> str:
        document = json.loads(sbom_json(_manifest(), timestamp=zip_timestamp(env)))
        return str(document["metadata"]["timestamp"])

    assert stamp({"SOURCE_DATE_EPOCH": "1700000000"}) == "2023-11-14T22:13:20+00:00"
    assert stamp({}) == "1980-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("zip_name", "sbom_name"),
    [
        ("deps-python3.12-arm64.zip", "deps-python3.12-arm64.cdx.json"),
        ("a.b-python3.9-x86_64.zip", "a.b-python3.9-x86_64.cdx.json"),
    ],
)
def test_sbom_path_is_beside_the_zip(zip_name: str, sbom_name: str) -> None:
    assert sbom_path_for(Path("dist") / zip_name) == Path("dist") / sbom_name
