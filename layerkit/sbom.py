"""A CycloneDX SBOM (JSON, spec 1.6) of a built layer, written beside its zip.

Made from the manifest only, with the maintained CycloneDX library. Reproducible: the serial
number is derived from the zip's sha256 and the timestamp is the build's (``SOURCE_DATE_EPOCH``,
as for the zip's entries), so the same layer always gets the same SBOM bytes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL
from packaging.utils import canonicalize_name

from layerkit import __version__
from layerkit.manifest import DistributionInfo, Manifest, sbom_serial_number

SCHEMA_VERSION = SchemaVersion.V1_6
_PROPERTY_PREFIX = "layerkit:"


def purl(dist: DistributionInfo) -> PackageURL:
    """``pkg:pypi/<normalised name>@<version>`` (PEP 503 names, as the purl spec asks)."""
    return PackageURL(type="pypi", name=canonicalize_name(dist.name), version=dist.version)


def _component(dist: DistributionInfo) -> Component:
    package_url = purl(dist)
    wheel_hash = dist.wheel_sha256
    return Component(
        type=ComponentType.LIBRARY,
        name=canonicalize_name(dist.name),
        version=dist.version,
        purl=package_url,
        bom_ref=package_url.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=wheel_hash)] if wheel_hash else [],
        properties=[
            Property(name=f"{_PROPERTY_PREFIX}files", value=str(dist.files)),
            Property(name=f"{_PROPERTY_PREFIX}unzipped-bytes", value=str(dist.bytes)),
        ],
    )


def _layer_component(manifest: Manifest) -> Component:
    """The layer zip itself: the SBOM's subject."""
    facts = {
        "name": manifest.name,
        "runtime": manifest.runtime,
        "architecture": manifest.arch,
        "abi": manifest.abi,
        "glibc": manifest.glibc,
        "installer": f"{manifest.installer} {manifest.installer_version}".strip(),
        "code-sha256": manifest.code_sha256,
        "unzipped-bytes": str(manifest.unzipped_bytes),
        "zipped-bytes": str(manifest.zipped_bytes),
        "file-count": str(manifest.file_count),
        "budget-bytes": str(manifest.budget_bytes),
    }
    if manifest.resolver:  # pip resolved a glibc 2.26 target that uv installed
        facts["resolver"] = manifest.resolver
    if manifest.lock_file:  # the input the layer was installed from, exactly
        facts.update({"lock-file": manifest.lock_file, "lock-sha256": manifest.lock_sha256})
    return Component(
        type=ComponentType.FILE,
        name=manifest.zip,
        version=manifest.sha256,
        description=f"AWS Lambda layer {manifest.name} for {manifest.runtime} on {manifest.arch}",
        bom_ref=f"layer:{manifest.zip}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=manifest.sha256)],
        properties=[
            Property(name=f"{_PROPERTY_PREFIX}{key}", value=value) for key, value in facts.items()
        ],
    )


def make_bom(manifest: Manifest, *, timestamp: int) -> Bom:
    """The SBOM of the layer `manifest` describes; `timestamp` in seconds since the epoch."""
    layer = _layer_component(manifest)
    components = [_component(d) for d in manifest.distributions]
    bom = Bom(
        serial_number=sbom_serial_number(manifest),
        metadata=BomMetaData(
            timestamp=datetime.fromtimestamp(timestamp, tz=timezone.utc),
            tools=ToolRepository(
                components=[
                    Component(
                        type=ComponentType.APPLICATION,
                        name="layerkit",
                        version=__version__,
                        bom_ref=f"tool:layerkit@{__version__}",
                    )
                ]
            ),
            component=layer,
        ),
        components=components,
    )
    # The layer contains every distribution (installed flat: no dependency graph is recorded).
    bom.register_dependency(layer, components)
    for component in components:
        bom.register_dependency(component, [])
    return bom


def sbom_json(manifest: Manifest, *, timestamp: int) -> str:
    """The SBOM as CycloneDX 1.6 JSON text, keys sorted, newline-terminated."""
    outputter = make_outputter(
        make_bom(manifest, timestamp=timestamp), OutputFormat.JSON, SCHEMA_VERSION
    )
    document = json.loads(outputter.output_as_string())
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
