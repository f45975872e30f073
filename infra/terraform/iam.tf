# Least privilege: every statement names its actions (no wildcards) and its
# resources (ARNs of this stack).
locals {
  table_arns = [
    for t in local.iceberg_tables :
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/${t}"
  ]
  glue_database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.lake.name}"
  glue_catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  kinesis_read = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
  ]
}

data "aws_iam_policy_document" "assume" {
  for_each = {
    lambda   = "lambda.amazonaws.com"
    firehose = "firehose.amazonaws.com"
    glue     = "glue.amazonaws.com"
  }
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- the detector (Lambda) -----------------------------------------------------

resource "aws_iam_role" "lambda" {
  name               = "${local.name}-detector"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "ReadStream"
    actions   = concat(local.kinesis_read, ["kinesis:SubscribeToShard"])
    resources = [aws_kinesis_stream.readings.arn]
  }
  # State in S3 (fleet.tf's state_store): one object per shard under the state
  # prefix, read on a cold start and written (If-Match) once a batch; listed when a
  # shard misses a well after a reshard.
  dynamic "statement" {
    for_each = local.state_store == "s3" ? [1] : []
    content {
      sid       = "DetectionState"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${aws_s3_bucket.lake.arn}/${local.state_prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.state_store == "s3" ? [1] : []
    content {
      sid       = "ListDetectionState"
      actions   = ["s3:ListBucket"]
      resources = [aws_s3_bucket.lake.arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${local.state_prefix}*"]
      }
    }
  }
  # Notified markers and (state_store "dynamodb") the shards' state items, scanned
  # when a shard misses a well after a reshard; the per-well items of earlier
  # releases are read once.
  statement {
    sid       = "DetectorTable"
    actions   = concat(["dynamodb:GetItem", "dynamodb:PutItem"], local.state_store == "dynamodb" ? ["dynamodb:Scan"] : [])
    resources = [aws_dynamodb_table.state.arn]
  }
  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.rejects.arn, aws_sqs_queue.esm_failures.arn]
  }
  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "detector"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# --- Firehose ------------------------------------------------------------------

resource "aws_iam_role" "firehose" {
  name               = "${local.name}-firehose"
  assume_role_policy = data.aws_iam_policy_document.assume["firehose"].json
}

# https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html
data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "ReadStream"
    actions   = local.kinesis_read
    resources = [aws_kinesis_stream.readings.arn]
  }
  # https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-iceberg
  statement {
    sid       = "ListLake"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.lake.arn]
  }
  statement {
    sid = "WriteTables"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = [
      "${aws_s3_bucket.lake.arn}/petrostream_db/*",
      "${aws_s3_bucket.lake.arn}/errors/*",
    ]
  }
  statement {
    sid       = "CommitToTables"
    actions   = ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
    resources = concat([local.glue_catalog_arn, local.glue_database_arn], local.table_arns)
  }
  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "firehose"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

# --- Glue's table optimizers (compaction, snapshot retention, orphan files) ------

resource "aws_iam_role" "optimizer" {
  name               = "${local.name}-optimizer"
  assume_role_policy = data.aws_iam_policy_document.assume["glue"].json
}

# https://docs.aws.amazon.com/glue/latest/dg/optimization-prerequisites.html
data "aws_iam_policy_document" "optimizer" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
  }
  statement {
    sid       = "RewriteTables"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.lake.arn}/petrostream_db/*"]
  }
  statement {
    sid       = "CommitToTables"
    actions   = ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
    resources = concat([local.glue_catalog_arn, local.glue_database_arn], local.table_arns)
  }
  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/iceberg-*:*"]
  }
}

resource "aws_iam_role_policy" "optimizer" {
  name   = "optimizer"
  role   = aws_iam_role.optimizer.id
  policy = data.aws_iam_policy_document.optimizer.json
}
