"""Does the installed moto route every AWS service PetroStream calls, for this botocore?

moto dispatches a request by botocore's service model: when a botocore release
changes a service's protocol or endpoint and moto has not followed, every call of
that service answers 404 (botocore 1.44.18 with moto 5.2.6 did that to Athena).
`unrouted` says so in one sentence per service, instead of a 404 deep in a fixture.
"""

from __future__ import annotations

from importlib.metadata import version

import boto3
import pytest
from botocore.exceptions import ClientError

CALLS: dict[str, str] = {
    "athena": "list_work_groups",
    "cloudwatch": "list_metrics",
    "dynamodb": "list_tables",
    "firehose": "list_delivery_streams",
    "glue": "get_databases",
    "iam": "list_roles",
    "kinesis": "list_streams",
    "kms": "list_keys",
    "lambda": "list_functions",
    "logs": "describe_log_groups",
    "s3": "list_buckets",
    "sns": "list_topics",
    "sqs": "list_queues",
}
"""One harmless read per service PetroStream (code, tests, Terraform) talks to."""


def unrouted(endpoint: str, services: tuple[str, ...] = tuple(CALLS)) -> list[str]:
    """One sentence per service the moto server at ``endpoint`` does not route."""
    problems = []
    for service in services:
        client = boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
        )
        try:
            getattr(client, CALLS[service])()
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                problems.append(
                    f"moto {version('moto')} does not route {service} for botocore "
                    f"{version('botocore')} ({CALLS[service]} answered 404): pin botocore "
                    "below that release in pyproject.toml's [tool.uv] constraints, or move "
                    "moto to a release that routes it, then `make lock`"
                )
    return problems


def require_routes(endpoint: str, *services: str) -> None:
    """Fail the calling test or fixture, in one sentence, if moto cannot route ``services``."""
    problems = unrouted(endpoint, services)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
