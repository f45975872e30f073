# The lake consumer: Firehose reads the stream and appends each record to the
# `sensors` Apache Iceberg table (Glue Data Catalog), which partitions by
# day(ts) and bucket(16, well_id) itself: no dynamic partitioning, no JQ, no
# per-well objects, no 500-partition quota. It de-aggregates KPL records.
# https://docs.aws.amazon.com/firehose/latest/dev/apache-iceberg-destination.html
# Limits (docs/aws.md): provider 5.x sets no schema evolution or table creation
# (a new sensor column must be added to the table first: `petrostream lake init`
# after the writer saw it, or Athena ALTER TABLE ADD COLUMNS); changing the
# table list replaces the stream; records that fail (a missing table, a value
# Iceberg cannot take) go to errors/ in the lake bucket.
resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${local.name}-lake"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_stream" "firehose" {
  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_kinesis_firehose_delivery_stream" "lake" {
  # checkov:skip=CKV_AWS_240:Firehose rejects server-side encryption when a Kinesis stream is its source; the stream is KMS-encrypted
  # checkov:skip=CKV_AWS_241:Firehose rejects server-side encryption when a Kinesis stream is its source; the stream is KMS-encrypted
  name        = "${local.name}-lake"
  destination = "iceberg"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.readings.arn
    role_arn           = aws_iam_role.firehose.arn
  }

  iceberg_configuration {
    role_arn    = aws_iam_role.firehose.arn
    catalog_arn = local.glue_catalog_arn

    # One commit to the table per buffer: after 60 s or 64 MB, whichever first
    # (files of each bucket then hold 60 s of its wells; Glue's optimizer
    # compacts them to Athena's size). Iceberg buffers: 1-128 MB, 0-900 s.
    buffering_interval = var.firehose_buffer_interval_seconds
    buffering_size     = var.firehose_buffer_size_mb
    retry_duration     = 300
    s3_backup_mode     = "FailedDataOnly"

    destination_table_configuration {
      database_name          = aws_glue_catalog_database.lake.name
      table_name             = "sensors"
      s3_error_output_prefix = "errors/sensors/"
    }

    s3_configuration {
      role_arn            = aws_iam_role.firehose.arn
      bucket_arn          = aws_s3_bucket.lake.arn
      kms_key_arn         = aws_kms_key.main.arn
      error_output_prefix = "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose.name
    }
  }

  depends_on = [aws_iam_role_policy.firehose]
}
