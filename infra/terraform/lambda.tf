# The real-time consumer: the same handler function the local runtime calls,
# shipped as the zip `petrostream aws package` builds (pure Python, no DuckDB,
# no pyarrow). The Lambda runtime provides boto3.
locals {
  lambda_zip    = coalesce(var.lambda_zip_path, "${path.module}/../../dist/lambda.zip")
  function_name = "${local.name}-detector"
}

resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "detector" {
  # checkov:skip=CKV_AWS_116:a stream-triggered function has no async DLQ; the event source mapping's on-failure queue and the rejects queue play that role
  # checkov:skip=CKV_AWS_117:the function calls only AWS public endpoints; a VPC adds NAT cost and nothing else
  # checkov:skip=CKV_AWS_272:code signing needs an AWS Signer profile the operator owns; the zip is built reproducibly and its hash pinned
  # checkov:skip=CKV_AWS_115:one shard = one concurrent batch; reserving concurrency fails on new accounts whose limit is 10
  function_name    = local.function_name
  description      = "PetroStream detector: Kinesis readings -> alerts (SNS), state per shard in S3"
  role             = aws_iam_role.lambda.arn
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = "petrostream.handlers.process_stream.lambda_handler"
  filename         = local.lambda_zip
  source_code_hash = filebase64sha256(local.lambda_zip)
  memory_size      = var.lambda_memory_mb
  timeout          = var.lambda_timeout_seconds
  kms_key_arn      = aws_kms_key.main.arn

  environment {
    # The state's objects (one per shard) go to S3 when fleet.tf says so; else the table.
    variables = merge(
      {
        PETROSTREAM_STATE_TABLE     = aws_dynamodb_table.state.name
        PETROSTREAM_ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
        PETROSTREAM_DLQ_URL         = aws_sqs_queue.rejects.url
        PETROSTREAM_LOG_LEVEL       = var.lambda_log_level
      },
      local.state_store == "s3" ? {
        PETROSTREAM_STATE_BUCKET = aws_s3_bucket.lake.id
        PETROSTREAM_STATE_PREFIX = local.state_prefix
      } : {},
    )
  }

  # PassThrough: traces only when the caller samples; no X-Ray permission with a "*" resource needed.
  tracing_config {
    mode = "PassThrough"
  }

  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}

# Kinesis -> handler. Partial batch responses (ReportBatchItemFailures) let the
# handler name the first failed record so only the rest is retried; bisecting
# isolates a poison record; retries and record age are finite so one bad batch
# cannot stall the shard; what is given up lands in the on-failure queue.
# https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
resource "aws_lambda_event_source_mapping" "readings" {
  event_source_arn                   = aws_kinesis_stream.readings.arn
  function_name                      = aws_lambda_function.detector.arn
  starting_position                  = "LATEST"
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batch_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.max_retry_attempts
  maximum_record_age_in_seconds      = var.max_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.esm_failures.arn
    }
  }
}
