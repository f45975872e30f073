# Alarms on the three ways the pipeline silently stops, and on the two
# dead-letter queues. Every alarm notifies the alert topic, and again on recovery.
locals {
  alarm_actions = [aws_sns_topic.alerts.arn]
}

# The handler falls behind the stream (or is stuck retrying a batch).
resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${local.name}-detector-iterator-age"
  alarm_description   = "The detector is more than ${var.iterator_age_alarm_ms} ms behind the Kinesis stream."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.detector.function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${local.name}-detector-errors"
  alarm_description   = "The detector failed invocations (batches are retried, then go to the on-failure queue)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.detector.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Firehose could not write rows to the Iceberg table: they went to the errors/
# backup prefix instead (metrics of an Iceberg destination: "Monitor metrics",
# Amazon Data Firehose developer guide; DeliveryToS3.* covers only that backup).
resource "aws_cloudwatch_metric_alarm" "firehose_delivery" {
  alarm_name          = "${local.name}-lake-delivery-failures"
  alarm_description   = "Firehose failed to write readings to the Iceberg table; they are in the bucket's errors/ prefix."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToIceberg.FailedRowCount"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.lake.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Records older than a few buffer intervals have not been committed to the table.
resource "aws_cloudwatch_metric_alarm" "firehose_freshness" {
  alarm_name          = "${local.name}-lake-data-freshness"
  alarm_description   = "The oldest reading not yet in the Iceberg table is more than 15 minutes old."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToIceberg.DataFreshness"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.lake.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 900
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = {
    rejects      = aws_sqs_queue.rejects.name
    esm-failures = aws_sqs_queue.esm_failures.name
  }
  alarm_name          = "${local.name}-${each.key}-not-empty"
  alarm_description   = "Records are waiting in ${each.value}: inspect and replay or discard them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}
