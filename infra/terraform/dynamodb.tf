# The detector's delivered-notification markers: pk = "notified#<alert_id>:<status>",
# expires_at (N, epoch seconds) removed by TTL after 14 days. A read and a write per
# alert. The detection state itself is one S3 object per shard (s3.tf's
# detector-state/ prefix); releases before kept it here, one item per well
# (pk = well id), which the handler still reads once when no object holds a well.
resource "aws_dynamodb_table" "state" {
  name         = "${local.name}-detector-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
