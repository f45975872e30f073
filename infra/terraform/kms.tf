# One customer-managed key encrypts the stream, the lake, the topic, the
# queues, the state table, the handler's environment and the log groups.
resource "aws_kms_key" "main" {
  description             = "${local.name}: stream, lake, topic, queues, state table, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

locals {
  kms_use_actions = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
  ]
}

# In a key policy "Resource": "*" means "this key" (the only value AWS accepts).
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
data "aws_iam_policy_document" "kms" {
  # The default key policy: the account's IAM policies decide who uses the key
  # (the roles in iam.tf name it, with the actions they need).
  # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
  # checkov:skip=CKV_AWS_109:the account-root statement is AWS's default key policy; IAM narrows it
  # checkov:skip=CKV_AWS_111:the account-root statement is AWS's default key policy; IAM narrows it
  # checkov:skip=CKV_AWS_356:"Resource: *" in a key policy is the key itself
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the stack's log groups.
  # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
  statement {
    sid       = "CloudWatchLogsEncryptsLogGroups"
    actions   = local.kms_use_actions
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/*/${local.name}*"]
    }
  }

  # Alarms publish to the encrypted topic; the topic delivers to the encrypted queue.
  # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
  statement {
    sid       = "AlarmsAndTopicUseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "sns.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}
