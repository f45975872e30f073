# Two dead-letter queues with different meanings:
# - rejects: the handler sends each record it cannot decode (InvalidRecord)
#   with the reason, and reports the batch as processed;
# - esm_failures: the event source mapping sends the metadata of batches that
#   still failed after max_retry_attempts or max_record_age_seconds.
resource "aws_sqs_queue" "rejects" {
  name                      = "${local.name}-rejects"
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "esm_failures" {
  name                      = "${local.name}-stream-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.main.arn
}

# Optional queue subscribed to the alert topic (programmatic consumers, tests).
resource "aws_sqs_queue" "alerts" {
  count                     = var.alert_queue_enabled ? 1 : 0
  name                      = "${local.name}-alerts"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "alerts_queue" {
  count = var.alert_queue_enabled ? 1 : 0
  statement {
    sid       = "AlertTopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.alerts[0].arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.alerts.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "alerts" {
  count     = var.alert_queue_enabled ? 1 : 0
  queue_url = aws_sqs_queue.alerts[0].id
  policy    = data.aws_iam_policy_document.alerts_queue[0].json
}
