"""A CDK app (Python) whose function uses a layer layerkit built, either way:

- by ARN: set LAYER_ARN to the ARN `layerkit publish` wrote (`--output-env layer.env`, then
  `set -a; . ./layer.env; set +a; cdk deploy`, or GitHub's `layer-arn` output);
- from the zip: without LAYER_ARN, CDK publishes the zip `layerkit build` made, as it is. The
  manifest beside the zip gives the runtime, the architecture and the zip's sha256, which becomes
  CDK's asset hash: CDK uploads the asset again only when layerkit built different bytes.

Run from this directory with `cdk deploy` (cdk.json names this file); LAYERKIT_ZIP points at
another zip (default ../../../dist/deps-python3.12-arm64.zip). Checked by tests/test_iac.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ZIP = Path(os.environ.get("LAYERKIT_ZIP", "../../../dist/deps-python3.12-arm64.zip"))

ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}
HANDLER = """\
import requests  # from the layer

def handler(event, context):
    return {"requests": requests.__version__}
"""


class LayerkitStack(cdk.Stack):
    """One function on the layer's runtime and architecture, with the layer attached."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        manifest = json.loads(ZIP.with_suffix(".json").read_text())  # layerkit's manifest
        runtime = lambda_.Runtime(manifest["runtime"], lambda_.RuntimeFamily.PYTHON)
        architecture = ARCHITECTURES[manifest["arch"]]
        published = os.environ.get("LAYER_ARN")
        if published:
            layer = lambda_.LayerVersion.from_layer_version_arn(self, "Deps", published)
        else:
            layer = lambda_.LayerVersion(
                self,
                "Deps",
                code=lambda_.Code.from_asset(
                    str(ZIP),
                    asset_hash=manifest["sha256"],
                    asset_hash_type=cdk.AssetHashType.CUSTOM,
                ),
                compatible_runtimes=[runtime],
                compatible_architectures=[architecture],
                description=f"layerkit {manifest['name']} {manifest['code_sha256']}",
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
        lambda_.Function(
            self,
            "Function",
            runtime=runtime,
            architecture=architecture,
            handler="index.handler",
            code=lambda_.Code.from_inline(HANDLER),
            layers=[layer],
            memory_size=256,
            timeout=cdk.Duration.seconds(10),
        )


app = cdk.App()
LayerkitStack(app, "LayerkitExample")
app.synth()
