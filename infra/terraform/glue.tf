# The catalog: database petrostream_db, holding the lake's Apache Iceberg tables
# (sensors, rejects, alerts). The tables are not Terraform's: provider 5.x's
# aws_glue_catalog_table can make an Iceberg table (open_table_format_input) but
# not its partition spec, sort order or properties, so `petrostream lake init`
# (PETROSTREAM_LAKE_CATALOG=glue) makes them with pyiceberg after apply, before
# records flow: day(ts) + bucket(16, well_id), sorted well_id, ts, format v2
# (Firehose writes v2 only). Firehose's Iceberg destination needs no table at
# stream creation when it has no unique keys; until the table exists its
# deliveries fail over to errors/ (docs/aws.md). Destroy deletes the database
# and the tables in it; the files go with the bucket.
# Glue's catalog keeps an Iceberg table's partitions in its metadata: no crawler.
resource "aws_glue_catalog_database" "lake" {
  name        = "petrostream_db"
  description = "PetroStream lake: Apache Iceberg tables sensors, rejects, alerts"
}

# Compaction, snapshot retention and orphan deletion by Glue itself, once the
# tables exist: apply again with -var iceberg_table_optimizers=true after
# `petrostream lake init` (an optimizer of a missing table fails the apply).
# https://docs.aws.amazon.com/glue/latest/dg/table-optimizers.html
resource "aws_glue_catalog_table_optimizer" "lake" {
  for_each = var.iceberg_table_optimizers ? toset(local.optimizer_jobs) : toset([])

  catalog_id    = local.account_id
  database_name = aws_glue_catalog_database.lake.name
  table_name    = split("/", each.value)[0]
  type          = split("/", each.value)[1]

  configuration {
    role_arn = aws_iam_role.optimizer.arn
    enabled  = true
  }
}

locals {
  iceberg_tables = ["sensors", "rejects"]
  optimizer_jobs = [
    for pair in setproduct(local.iceberg_tables, ["compaction", "retention", "orphan_file_deletion"]) :
    "${pair[0]}/${pair[1]}"
  ]
}
