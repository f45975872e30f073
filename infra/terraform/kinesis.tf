# The buffer: the producer (`petrostream replay --target kinesis`) writes one
# JSON record per reading, partition key = well_id. Two consumers read it: the
# Lambda handler (alerts) and Firehose (the lake).
resource "aws_kinesis_stream" "readings" {
  name             = "${local.name}-readings"
  shard_count      = local.stream_shards
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.main.arn

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }
}
