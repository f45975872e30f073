# Fleet sizing: one place turns the fleet (wells x readings/s x bytes) into the
# settings that scale with it. `petrostream aws cost` computes the same shard
# count (petrostream.deploy.cost.shards_for); a test keeps the two in step.
#
# - Kinesis shards: the fewest that carry the fleet at var.shard_utilisation of
#   each shard's write quota (1 MiB/s and 1,000 records/s), unless
#   var.stream_shards is set.
# - Lambda: one concurrent batch per shard (parallelization factor 1), so the
#   function's concurrency equals the shard count.
# - Quotas to request before deploying are listed in the `quota_requests` output.
locals {
  fleet_readings_per_s = var.fleet_wells * var.fleet_hz
  fleet_records_per_s  = local.fleet_readings_per_s / var.readings_per_record
  fleet_shards = max(
    1,
    ceil(local.fleet_readings_per_s * var.reading_bytes / (1048576 * var.shard_utilisation)),
    ceil(local.fleet_records_per_s / (1000 * var.shard_utilisation)),
  )
  stream_shards = coalesce(var.stream_shards, local.fleet_shards)

  # The detector's state is one object per shard, written once a batch: an item of
  # the table while it is small (DynamoDB bills a write unit per KB, S3 a PUT: $0.625
  # vs $5 a million, so the table is cheaper up to 8 KB), an S3 object past that.
  # `petrostream aws cost` makes the same choice (petrostream.deploy.cost.state_store_for).
  state_object_bytes = var.fleet_wells / local.stream_shards * var.state_bytes_per_well
  state_store = var.state_store != "auto" ? var.state_store : (
    local.state_object_bytes <= var.state_table_max_bytes ? "dynamodb" : "s3"
  )

  # Default account quotas (us-east-1) the fleet may exceed; empty when none is.
  quota_requests = compact([
    local.stream_shards > 500 ? "Kinesis: shards per account (default 500 in us-east-1) >= ${local.stream_shards}" : "",
    local.stream_shards > 10 ? "Lambda: concurrent executions >= ${local.stream_shards} (new accounts start at 10)" : "",
  ])
}

variable "fleet_wells" {
  description = "Wells sending readings; sizes the stream (see fleet.tf)."
  type        = number
  default     = 1
  validation {
    condition     = var.fleet_wells >= 1
    error_message = "fleet_wells must be at least 1."
  }
}

variable "fleet_hz" {
  description = "Readings per second per well."
  type        = number
  default     = 1
  validation {
    condition     = var.fleet_hz > 0
    error_message = "fleet_hz must be positive."
  }
}

variable "reading_bytes" {
  description = "Bytes of one reading as a JSON record (a 3W reading is about 400)."
  type        = number
  default     = 400
}

variable "readings_per_record" {
  description = "Readings per stream record: 1 for one record per reading; about 60 when the producer aggregates KPL-style."
  type        = number
  default     = 1
  validation {
    condition     = var.readings_per_record >= 1
    error_message = "readings_per_record must be at least 1."
  }
}

variable "state_store" {
  description = "Where the detector's state objects (one per shard) live: auto (the table up to state_table_max_bytes an object, else S3), dynamodb or s3."
  type        = string
  default     = "auto"
  validation {
    condition     = contains(["auto", "dynamodb", "s3"], var.state_store)
    error_message = "state_store must be auto, dynamodb or s3."
  }
}

variable "state_bytes_per_well" {
  description = "One well's detector state as stored (zlib; about 1,156 bytes after an event)."
  type        = number
  default     = 1156
}

variable "state_table_max_bytes" {
  description = "Largest shard state object kept in the DynamoDB table under state_store = auto (below it a write unit per KB is cheaper than an S3 PUT)."
  type        = number
  default     = 8192
  validation {
    condition     = var.state_table_max_bytes <= 399360
    error_message = "state_table_max_bytes must stay under DynamoDB's 400 KB item."
  }
}

variable "shard_utilisation" {
  description = "Fraction of a shard's write quota the sizing plans for (headroom for bursts)."
  type        = number
  default     = 0.8
  validation {
    condition     = var.shard_utilisation > 0 && var.shard_utilisation <= 1
    error_message = "shard_utilisation must be in (0, 1]."
  }
}
