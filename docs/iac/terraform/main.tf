# A Terraform module whose function uses a layer layerkit built, either way:
# - by ARN: layer_arn = the ARN `layerkit publish` wrote (GITHUB_OUTPUT's layer-arn, or
#   LAYER_ARN in the file of `--output-env`: `terraform apply -var "layer_arn=$LAYER_ARN"`);
# - from the zip: layer_arn left null, Terraform publishes the zip `layerkit build` made, with
#   source_code_hash = the manifest's code_sha256 (Lambda's CodeSha256, the same value as
#   filebase64sha256(zip)): a new layer version only when layerkit built different bytes.
# Checked by tests/test_iac.py (parsed with python-hcl2; every var.* is declared).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "layer_arn" {
  description = "A published layer version (layerkit's layer-arn output); null to publish the zip."
  type        = string
  default     = null
}

variable "layer_zip" {
  description = "The zip layerkit built; its manifest (same name, .json) sits beside it."
  type        = string
  default     = "../../../dist/deps-python3.12-arm64.zip"
}

variable "function_name" {
  description = "Name of the function that uses the layer."
  type        = string
}

variable "role_arn" {
  description = "Execution role of the function."
  type        = string
}

variable "function_zip" {
  description = "The function's own code."
  type        = string
}

locals {
  # layerkit's manifest: runtime, arch, sha256 and code_sha256 of the zip.
  manifest = jsondecode(file(replace(var.layer_zip, "/\\.zip$/", ".json")))
}

resource "aws_lambda_layer_version" "deps" {
  count                    = var.layer_arn == null ? 1 : 0
  layer_name               = "${local.manifest.name}-${replace(local.manifest.runtime, ".", "")}-${local.manifest.arch}"
  filename                 = var.layer_zip
  source_code_hash         = local.manifest.code_sha256
  compatible_runtimes      = [local.manifest.runtime]
  compatible_architectures = [local.manifest.arch]
  description              = "built by layerkit ${local.manifest.layerkit_version}"
  skip_destroy             = true
}

locals {
  # one() of the layer published here: null when layer_arn is given (count = 0).
  layer_arn = var.layer_arn != null ? var.layer_arn : one(aws_lambda_layer_version.deps[*].arn)
}

resource "aws_lambda_function" "function" {
  function_name    = var.function_name
  role             = var.role_arn
  filename         = var.function_zip
  source_code_hash = filebase64sha256(var.function_zip)
  handler          = "app.handler"
  runtime          = local.manifest.runtime
  architectures    = [local.manifest.arch]
  layers           = [local.layer_arn]
  memory_size      = 256
  timeout          = 10
}

output "layer_arn" {
  description = "The layer version the function uses."
  value       = local.layer_arn
}

output "code_sha256" {
  description = "CodeSha256 of the layer zip, as layerkit recorded it."
  value       = local.manifest.code_sha256
}
