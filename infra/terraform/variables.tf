variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint_url" {
  description = "Endpoint of an AWS emulator (e.g. http://127.0.0.1:5000) for every service; null = real AWS."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "petrostream"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name_prefix))
    error_message = "name_prefix: 3-31 characters, lower case letters, digits and '-', starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- S3 lake -------------------------------------------------------------------

variable "lake_bucket_name" {
  description = "Name of the lake bucket; null = <name_prefix>-lake-<account id>-<region>."
  type        = string
  default     = null
}

variable "lake_retention_days" {
  description = "Days the lake keeps sensors/, alerts/ and rejects/ objects; 0 = forever."
  type        = number
  default     = 0

  validation {
    condition     = var.lake_retention_days >= 0
    error_message = "lake_retention_days must be 0 (forever) or a positive number of days."
  }
}

variable "scratch_expiry_days" {
  description = "Days before raw/, errors/ and athena-results/ objects expire."
  type        = number
  default     = 30
}

variable "state_noncurrent_days" {
  description = "Days the detector's replaced state objects (one per shard and batch) are kept as noncurrent versions, for recovery."
  type        = number
  default     = 1
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a lake bucket that still holds objects (tests, demos)."
  type        = bool
  default     = false
}

# --- Kinesis -------------------------------------------------------------------

variable "stream_shards" {
  description = "Shards of the Kinesis stream (1 MB/s or 1,000 records/s of writes each); null = sized from fleet_wells (fleet.tf)."
  type        = number
  default     = null
}

variable "stream_retention_hours" {
  description = "Retention of the Kinesis stream, 24-8760 hours (above 24 costs extra)."
  type        = number
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 and 8760."
  }
}

# --- Lambda --------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Zip built by `petrostream aws package`; null = <repo>/dist/lambda.zip."
  type        = string
  default     = null
}

variable "lambda_memory_mb" {
  description = "Memory of the stream handler, MB."
  type        = number
  default     = 256
}

variable "lambda_timeout_seconds" {
  description = "Timeout of one handler invocation, seconds."
  type        = number
  default     = 60
}

variable "lambda_log_level" {
  description = "PETROSTREAM_LOG_LEVEL of the handler."
  type        = string
  default     = "INFO"
}

variable "batch_size" {
  description = "Records per handler invocation."
  type        = number
  default     = 100
}

variable "batch_window_seconds" {
  description = "Lambda batching window, 0-300 s: the mapping waits up to this long to fill a batch. Fewer invocations and state writes, but an alert can wait as long; 0 keeps alerts within about a second."
  type        = number
  default     = 0
  validation {
    condition     = var.batch_window_seconds >= 0 && var.batch_window_seconds <= 300
    error_message = "batch_window_seconds must be between 0 and 300."
  }
}

variable "max_retry_attempts" {
  description = "Retries of a failing batch before its records go to the on-failure queue."
  type        = number
  default     = 3

  validation {
    condition     = var.max_retry_attempts >= 0 && var.max_retry_attempts <= 10000
    error_message = "max_retry_attempts must be finite: 0-10000."
  }
}

variable "max_record_age_seconds" {
  description = "Records older than this go to the on-failure queue instead of the handler (60-604800)."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_record_age_seconds >= 60 && var.max_record_age_seconds <= 604800
    error_message = "max_record_age_seconds must be finite: 60-604800."
  }
}

# --- Alerts --------------------------------------------------------------------

variable "alert_email" {
  description = "E-mail address subscribed to the alert topic (confirm the mail AWS sends); null = none."
  type        = string
  default     = null
}

variable "alert_queue_enabled" {
  description = "Subscribe an SQS queue to the alert topic (programmatic consumers, tests)."
  type        = bool
  default     = false
}

# --- Firehose ------------------------------------------------------------------

variable "firehose_buffer_interval_seconds" {
  description = "Firehose commits its buffer to the Iceberg table after this many seconds (0-900)."
  type        = number
  default     = 60
}

variable "firehose_buffer_size_mb" {
  description = "Firehose commits its buffer to the Iceberg table at this size (1-128 MB)."
  type        = number
  default     = 64

  # https://docs.aws.amazon.com/firehose/latest/dev/apache-iceberg-destination.html
  validation {
    condition     = var.firehose_buffer_size_mb >= 1 && var.firehose_buffer_size_mb <= 128
    error_message = "firehose_buffer_size_mb must be 1-128 for an Iceberg destination."
  }
}

# --- Glue / Athena -------------------------------------------------------------

variable "iceberg_table_optimizers" {
  description = "Glue's compaction, snapshot retention and orphan deletion for the Iceberg tables; set true once `petrostream lake init` made them."
  type        = bool
  default     = false
}

variable "athena_bytes_scanned_cutoff" {
  description = "Athena cancels a query of the workgroup that scans more bytes than this."
  type        = number
  default     = 10737418240 # 10 GiB
}

variable "named_queries_dir" {
  description = "Folder of the *.sql named queries; null = <repo>/src/petrostream/query/named."
  type        = string
  default     = null
}

# --- CloudWatch ----------------------------------------------------------------

variable "iterator_age_alarm_ms" {
  description = "Alarm when the handler falls this far behind the stream, milliseconds."
  type        = number
  default     = 60000
}

variable "log_retention_days" {
  description = "Retention of the Lambda and Firehose log groups."
  type        = number
  default     = 365
}
