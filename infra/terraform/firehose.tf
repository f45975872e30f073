# The lake consumer: Firehose reads the stream, converts each JSON record to
# Parquet with the Glue table's schema, and writes DESIGN's layout
#   s3://<bucket>/sensors/dt=YYYY-MM-DD/well_id=WELL-00001/<file>.parquet
# partitioning each record by a JQ query on the record itself.
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
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.readings.arn
    role_arn           = aws_iam_role.firehose.arn
  }

  extended_s3_configuration {
    role_arn    = aws_iam_role.firehose.arn
    bucket_arn  = aws_s3_bucket.lake.arn
    kms_key_arn = aws_kms_key.main.arn

    # Per active partition: deliver after 60 s or 64 MB, whichever first.
    # 64 MB is the minimum AWS accepts once format conversion is on (the seed's
    # 5 MB is rejected at apply time):
    # https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html
    # https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning.html
    buffering_interval = var.firehose_buffer_interval_seconds
    buffering_size     = var.firehose_buffer_size_mb

    prefix              = "sensors/dt=!{partitionKeyFromQuery:dt}/well_id=!{partitionKeyFromQuery:well_id}/"
    error_output_prefix = "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"

    dynamic_partitioning_configuration {
      enabled        = true
      retry_duration = 300
    }

    processing_configuration {
      enabled = true
      processors {
        type = "MetadataExtraction"
        parameters {
          parameter_name  = "JsonParsingEngine"
          parameter_value = "JQ-1.6"
        }
        # ts is "YYYY-MM-DD HH:MM:SS.mmm" (UTC), so its first 10 characters are the dt partition.
        parameters {
          parameter_name  = "MetadataExtractionQuery"
          parameter_value = "{dt: .ts[0:10], well_id: .well_id}"
        }
      }
    }

    data_format_conversion_configuration {
      enabled = true
      input_format_configuration {
        deserializer {
          # Hive's JSON SerDe parses "YYYY-MM-DD HH:MM:SS.mmm" (java.sql.Timestamp) by default.
          hive_json_ser_de {}
        }
      }
      output_format_configuration {
        serializer {
          parquet_ser_de {
            compression = "SNAPPY"
          }
        }
      }
      schema_configuration {
        database_name = aws_glue_catalog_table.sensors.database_name
        table_name    = aws_glue_catalog_table.sensors.name
        role_arn      = aws_iam_role.firehose.arn
        region        = local.region
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose.name
    }
  }

  depends_on = [aws_iam_role_policy.firehose]
}
