# The lake bucket: DESIGN's layout under s3://<bucket>/
#   sensors/dt=YYYY-MM-DD/well_id=WELL-00001/*.parquet  (Firehose, Parquet)
#   alerts/, rejects/                                    (lake tables)
#   errors/                                              (Firehose records it could not convert)
#   raw/                                                 (optional raw copies)
#   athena-results/                                      (query results)
#   detector-state/shardId-*.state                       (the detector's state, one per shard)
locals {
  state_prefix     = "detector-state/"
  lake_bucket      = coalesce(var.lake_bucket_name, "${local.name}-lake-${local.account_id}-${local.region}")
  lake_prefixes    = ["sensors/", "alerts/", "rejects/"]
  scratch_prefixes = ["raw/", "errors/", "athena-results/"]
}

resource "aws_s3_bucket" "lake" {
  # checkov:skip=CKV_AWS_18:access logs need a second bucket; audit S3 with the account's CloudTrail data events
  # checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice left to the operator
  # checkov:skip=CKV2_AWS_62:nothing consumes S3 event notifications: Firehose commits to the Iceberg tables itself
  bucket        = local.lake_bucket
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "lake_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake_bucket.json
  # S3 rejects a policy while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Parts of uploads that never completed (a Firehose or lake-writer crash) are billed until removed.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {
      prefix = ""
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # The seed's 30-day expiry for scratch data (raw copies, Firehose errors, query results).
  dynamic "rule" {
    for_each = toset(local.scratch_prefixes)
    content {
      id     = "expire-${trimsuffix(rule.value, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.scratch_expiry_days
      }
      noncurrent_version_expiration {
        noncurrent_days = 1
      }
    }
  }

  # The detector's state: one object per shard, rewritten every batch (about once a
  # second), so each write leaves a noncurrent version; they go after a day.
  rule {
    id     = "detector-state-versions"
    status = "Enabled"
    filter {
      prefix = local.state_prefix
    }
    noncurrent_version_expiration {
      noncurrent_days = var.state_noncurrent_days
    }
  }

  # The lake's own tables: kept for lake_retention_days (0 = forever).
  dynamic "rule" {
    for_each = toset(local.lake_prefixes)
    content {
      id     = "retain-${trimsuffix(rule.value, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      dynamic "expiration" {
        for_each = var.lake_retention_days > 0 ? [var.lake_retention_days] : []
        content {
          days = expiration.value
        }
      }
      # Compaction replaces files; old versions are kept a week for recovery.
      noncurrent_version_expiration {
        noncurrent_days = 7
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.lake]
}
