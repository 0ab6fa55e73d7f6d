"""Lambda's limits, in one place, each with its public source.

Two sources are cited:
- QUOTAS: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
  (the Lambda quotas page: layers per function, deployment package sizes, code storage).
- MODEL: botocore's Lambda service model, botocore/data/lambda/2015-03-31/service-2.json, whose
  shapes carry the API reference's min/max/pattern for each field (also printed on the API
  reference pages, https://docs.aws.amazon.com/lambda/latest/api/). botocore validates only the
  minimums on the client, so layerkit checks the maximums itself before each call.

Constants only: nothing here imports anything of ours or does I/O.
"""

from __future__ import annotations

# --- sizes (QUOTAS) -----------------------------------------------------------------------------

# Function code plus all of its layers, unzipped: 250 MB, which AWS counts as 250 MiB.
LAMBDA_UNZIPPED_LIMIT = 262_144_000
# A zip sent in the request itself (ZipFile) may be 50 MB; a bigger one goes through S3.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024
# Layers on one function (no two versions of one layer, nor one ARN twice).
MAX_LAYERS_PER_FUNCTION = 5

# --- API fields (MODEL) -------------------------------------------------------------------------

# shape Description (functions, versions, aliases and layer versions share it): max 256.
MAX_DESCRIPTION_CHARS = 256
# shape LicenseInfo: max 512.
MAX_LICENSE_CHARS = 512
# shape CompatibleRuntimes: max 15 items.
MAX_COMPATIBLE_RUNTIMES = 15
# shape CompatibleArchitectures: max 2 items, enum Architecture.
MAX_COMPATIBLE_ARCHITECTURES = 2
LAMBDA_ARCHITECTURES = ("x86_64", "arm64")
# shape LayerNameOrArn: a name is [a-zA-Z0-9-_]{1,140}.
MAX_LAYER_NAME_CHARS = 140
# shape FunctionName: max 140 (a full ARN); the bare name is at most 64 (QUOTAS).
MAX_FUNCTION_NAME_CHARS = 64
MAX_FUNCTION_ARN_CHARS = 140
# shape StatementId: [a-zA-Z0-9-_]+, 1-100.
MAX_STATEMENT_ID_CHARS = 100
# shape Alias: (?!^[0-9]+$)([a-zA-Z0-9-_]+), 1-128 — an all-digit name would read as a version.
MAX_ALIAS_NAME_CHARS = 128
ALIAS_NAME_PATTERN = r"[a-zA-Z0-9_-]{1,128}"
# shape AliasRoutingConfiguration.AdditionalVersionWeights: one extra version, weight 0.0-1.0.
MAX_ADDITIONAL_VERSIONS = 1
MIN_ROUTING_WEIGHT = 0.0
MAX_ROUTING_WEIGHT = 1.0
