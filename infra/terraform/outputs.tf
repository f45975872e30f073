output "region" {
  description = "Region of the stack."
  value       = local.region
}

output "lake_bucket" {
  description = "Lake bucket; set PETROSTREAM_LAKE_ROOT=s3://<bucket>/ to point the CLI at it."
  value       = aws_s3_bucket.lake.bucket
}

output "lake_uri" {
  description = "Root of the lake, DESIGN's layout (sensors/dt=.../well_id=.../)."
  value       = "s3://${aws_s3_bucket.lake.bucket}/"
}

output "stream_name" {
  description = "Kinesis stream the producer writes to (`petrostream replay --target kinesis --stream-name`)."
  value       = aws_kinesis_stream.readings.name
}

output "stream_arn" {
  description = "ARN of the Kinesis stream."
  value       = aws_kinesis_stream.readings.arn
}

output "function_name" {
  description = "The detector Lambda function."
  value       = aws_lambda_function.detector.function_name
}

output "alert_topic_arn" {
  description = "SNS topic of alerts and alarms."
  value       = aws_sns_topic.alerts.arn
}

output "alert_queue_url" {
  description = "SQS queue subscribed to the alert topic (null unless alert_queue_enabled)."
  value       = var.alert_queue_enabled ? aws_sqs_queue.alerts[0].url : null
}

output "rejects_queue_url" {
  description = "Queue of records the handler could not decode (PETROSTREAM_DLQ_URL)."
  value       = aws_sqs_queue.rejects.url
}

output "stream_failures_queue_url" {
  description = "Queue of batches the event source mapping gave up on."
  value       = aws_sqs_queue.esm_failures.url
}

output "state_table" {
  description = "DynamoDB table of the detector's notified markers (PETROSTREAM_STATE_TABLE)."
  value       = aws_dynamodb_table.state.name
}

output "state_store" {
  description = "Where the detector keeps its state, one object per shard: dynamodb (state_table) or s3 (state_uri)."
  value       = local.state_store
}

output "state_uri" {
  description = "The detector's state objects when state_store is s3 (PETROSTREAM_STATE_BUCKET + _PREFIX)."
  value       = "s3://${aws_s3_bucket.lake.id}/${local.state_prefix}"
}

output "firehose_name" {
  description = "Firehose delivery stream writing the lake."
  value       = aws_kinesis_firehose_delivery_stream.lake.name
}

output "glue_database" {
  description = "Glue database of the lake."
  value       = aws_glue_catalog_database.lake.name
}

output "optimizer_role_arn" {
  description = "Role of Glue's table optimizers (compaction, retention, orphan files)."
  value       = aws_iam_role.optimizer.arn
}

output "athena_workgroup" {
  description = "Athena workgroup (`petrostream query --engine athena`)."
  value       = aws_athena_workgroup.main.name
}

output "kms_key_arn" {
  description = "Customer-managed key of the stack."
  value       = aws_kms_key.main.arn
}

output "stream_shards" {
  description = "Shards of the stream (from fleet_wells unless stream_shards is set)."
  value       = local.stream_shards
}

output "quota_requests" {
  description = "Default AWS quotas this fleet exceeds: request them before deploying."
  value       = local.quota_requests
}
