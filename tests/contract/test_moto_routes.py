"""The test environment's moto routes every AWS service PetroStream uses (issue: botocore moved)."""

from __future__ import annotations

from moto_routes import CALLS, unrouted


def test_moto_routes_every_service_petrostream_calls(moto_server: str) -> None:
    # given the locked moto and botocore; when each service gets one harmless read
    problems = unrouted(moto_server)
    # then none answers 404 (the sentence names moto's and botocore's versions)
    assert problems == [], "\n".join(problems)
    assert {"athena", "glue", "kinesis", "firehose", "s3"} <= set(CALLS)
