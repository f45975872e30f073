# Athena: a workgroup that enforces its result location, encryption and a
# per-query scan limit, and the project's named queries (*.sql files).
locals {
  named_queries_dir = coalesce(var.named_queries_dir, "${path.module}/../../src/petrostream/query/named")
  named_queries     = fileset(local.named_queries_dir, "*.sql")
}

resource "aws_athena_workgroup" "main" {
  name          = local.name
  description   = "PetroStream lake queries"
  force_destroy = true # saved query history only; the lake is elsewhere

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${aws_s3_bucket.lake.bucket}/athena-results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.main.arn
      }
    }
  }
}

resource "aws_athena_named_query" "named" {
  for_each  = local.named_queries
  name      = trimsuffix(each.value, ".sql")
  workgroup = aws_athena_workgroup.main.id
  database  = aws_glue_catalog_database.lake.name
  query     = file("${local.named_queries_dir}/${each.value}")
}
