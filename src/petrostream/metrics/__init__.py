"""Operational metrics with CloudWatch names (namespace ``PetroStream``).

`base` holds the names and the `MetricsSink` protocol (pure, in the Lambda zip);
`emf` prints CloudWatch embedded metric format lines on AWS; `sqlite_metrics`
stores them locally and reads them back for `stream describe` and the dashboard.
"""
