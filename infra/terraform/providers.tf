# One variable, `aws_endpoint_url`, points every service at an emulator (moto,
# LocalStack). Null (the default) means real AWS: every endpoint below is then
# null, which the provider treats as "use the standard endpoint".
# https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/custom-service-endpoints
locals {
  emulated = var.aws_endpoint_url != null
}

provider "aws" {
  region = var.region

  # An emulator has no real credentials and path-style buckets only.
  s3_use_path_style           = local.emulated
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated ? "true" : "false"
  skip_region_validation      = local.emulated

  endpoints {
    athena     = var.aws_endpoint_url
    cloudwatch = var.aws_endpoint_url
    dynamodb   = var.aws_endpoint_url
    firehose   = var.aws_endpoint_url
    glue       = var.aws_endpoint_url
    iam        = var.aws_endpoint_url
    kinesis    = var.aws_endpoint_url
    kms        = var.aws_endpoint_url
    lambda     = var.aws_endpoint_url
    logs       = var.aws_endpoint_url
    s3         = var.aws_endpoint_url
    sns        = var.aws_endpoint_url
    sqs        = var.aws_endpoint_url
    sts        = var.aws_endpoint_url
  }

  default_tags {
    tags = merge({ project = "petrostream", managed-by = "terraform" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  name       = var.name_prefix
}
