# The catalog: database petrostream_db, the `sensors` table with the canonical
# schema. Its columns come from petrostream.schema through the generated
# sensors_columns.tf.json (`petrostream aws glue-columns --out ...`; a unit
# test fails when the two differ). Firehose converts JSON to Parquet with this
# table's schema, so a column missing here is dropped on the way to S3.
resource "aws_glue_catalog_database" "lake" {
  name        = "petrostream_db"
  description = "PetroStream lake: 3W sensor readings (Parquet, Hive partitions)"
}

resource "aws_glue_catalog_table" "sensors" {
  name          = "sensors"
  database_name = aws_glue_catalog_database.lake.name
  description   = "One row per sensor reading; partitions dt (YYYY-MM-DD of ts) and well_id"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL              = "TRUE"
    classification        = "parquet"
    "parquet.compression" = "SNAPPY"
  }

  partition_keys {
    name    = "dt"
    type    = "string"
    comment = "date (UTC) of ts, YYYY-MM-DD"
  }
  partition_keys {
    name    = "well_id"
    type    = "string"
    comment = "WELL-00001..., SIMULATED or DRAWN"
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.lake.bucket}/sensors/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.sensors_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

# The crawler keeps the partitions (new days, new wells) registered. It crawls
# the table itself (catalog target), so the table stays the one Terraform
# defines: partitions inherit its schema, new columns are merged, nothing is
# deleted, one table for the whole path.
# https://docs.aws.amazon.com/glue/latest/dg/crawler-configuration.html
resource "aws_glue_crawler" "sensors" {
  # checkov:skip=CKV_AWS_195:the crawler has no bookmarks or S3 output to encrypt, only catalog updates and its log lines
  name          = "${local.name}-sensors"
  role          = aws_iam_role.crawler.arn
  database_name = aws_glue_catalog_database.lake.name
  schedule      = var.crawler_schedule

  catalog_target {
    database_name = aws_glue_catalog_database.lake.name
    tables        = [aws_glue_catalog_table.sensors.name]
  }

  schema_change_policy {
    update_behavior = "UPDATE_IN_DATABASE"
    delete_behavior = "LOG" # a catalog-target crawler must only log deletions
  }

  configuration = jsonencode({
    Version = 1.0
    CrawlerOutput = {
      Partitions = { AddOrUpdateBehavior = "InheritFromTable" }
      Tables     = { AddOrUpdateBehavior = "MergeNewColumns" }
    }
    Grouping = {
      TableGroupingPolicy = "CombineCompatibleSchemas"
    }
  })
}
