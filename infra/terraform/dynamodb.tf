# Detection state of the handler, one item per key: pk (S), state (B), version (N).
# `version` is the optimistic-concurrency counter the handler conditions its
# writes on, so two invocations never overwrite each other's state.
resource "aws_dynamodb_table" "state" {
  name         = "${local.name}-detector-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
