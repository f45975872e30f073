"""The Kinesis Data Streams backend of the `Stream` protocol (boto3).

boto3 reads the standard AWS settings itself (``AWS_REGION``, credentials,
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_KINESIS`` for a moto server or
LocalStack), so nothing here names an endpoint. botocore errors are translated
at this boundary: throttling and network blips become `TransientError`, a missing
stream a `ConfigError` saying how to fix it, a refused argument a `ValueError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from petrostream.errors import ConfigError, PetroStreamError, TransientError
from petrostream.stream.base import (
    CheckpointStore,
    GetRecordsResult,
    IteratorType,
    PutRecord,
    PutResult,
    ShardInfo,
    StreamRecord,
    check_put_batch,
)

MAX_GET_RECORDS: Final = 10_000
_ITERATOR_PREFIX: Final = "kinesis1."

# https://docs.aws.amazon.com/kinesis/latest/APIReference/CommonErrors.html and the
# per-action errors of PutRecords / GetRecords / GetShardIterator.
_TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceInUseException",  # the stream is CREATING or UPDATING
        "RequestTimeout",
    }
)
_CREDENTIAL_CODES: Final = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_INVALID_CODES: Final = frozenset(
    {"InvalidArgumentException", "ValidationException", "ValidationError"}
)

T = TypeVar("T")


class _ExpiredIteratorError(TransientError):
    """Kinesis' iterator expired (5 minutes): renewed from the wrapped position."""


class KinesisStream:
    """A Kinesis data stream behind the `Stream` protocol.

    Iterators it returns wrap Kinesis' own with the reader's position, so an
    iterator that expired on AWS (after 5 minutes) is renewed transparently
    from the last record read.

    Args:
        name: the stream name (it must exist: Terraform or ``aws kinesis create-stream``).
        client: a boto3 Kinesis client; by default one from the environment.
    """

    def __init__(self, name: str, *, client: Any | None = None) -> None:
        self.name = name
        if client is None:
            import boto3
            import botocore.exceptions

            try:
                client = boto3.client("kinesis")
            except botocore.exceptions.NoRegionError as exc:
                raise ConfigError(
                    "no AWS region for Kinesis: set AWS_REGION (e.g. eu-west-1)"
                ) from exc
        self._client = client
        self._shards: list[ShardInfo] | None = None

    # -- error translation --------------------------------------------------------

    def _call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        import botocore.exceptions

        try:
            return operation(**kwargs)
        except botocore.exceptions.ClientError as exc:
            raise self._translate(exc) from exc
        except (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
        ) as exc:
            raise ConfigError(
                f"no AWS credentials for Kinesis ({exc}): set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            ) from exc
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionError,
            botocore.exceptions.HTTPClientError,
        ) as exc:
            raise TransientError(f"cannot reach Kinesis: {exc}") from exc

    def _translate(self, exc: Any) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", exc))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "ExpiredIteratorException":
            return _ExpiredIteratorError(f"Kinesis iterator expired: {message}")
        if code == "ResourceNotFoundException":
            return ConfigError(
                f"Kinesis stream {self.name!r} not found ({message}): create it "
                "(terraform apply in infra/terraform), or set PETROSTREAM_STREAM_NAME, "
                "AWS_REGION or AWS_ENDPOINT_URL to the right one"
            )
        if code in _TRANSIENT_CODES or status >= 500:
            return TransientError(f"Kinesis {code or status}: {message}; retry")
        if code in _CREDENTIAL_CODES:
            return ConfigError(f"Kinesis refused the credentials ({code}: {message})")
        if code in _INVALID_CODES:
            return ValueError(f"Kinesis refused the request: {message}")
        return PetroStreamError(f"Kinesis {code}: {message}")

    # -- Stream -------------------------------------------------------------------

    def list_shards(self) -> list[ShardInfo]:
        """Return the open shards in hash-key order (fresh from ListShards)."""
        shards: list[ShardInfo] = []
        kwargs: dict[str, Any] = {"StreamName": self.name}
        while True:
            page = self._call(self._client.list_shards, **kwargs)
            for shard in page.get("Shards", []):
                if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                    continue  # closed by a reshard: no new records
                keys = shard["HashKeyRange"]
                shards.append(
                    ShardInfo(
                        shard["ShardId"], int(keys["StartingHashKey"]), int(keys["EndingHashKey"])
                    )
                )
            token = page.get("NextToken")
            if not token:
                break
            kwargs = {"NextToken": token}  # ListShards refuses StreamName with NextToken
        shards.sort(key=lambda s: s.starting_hash_key)
        self._shards = shards
        return list(shards)

    def put_records(self, records: Sequence[PutRecord]) -> list[PutResult]:
        """PutRecords: one result per record in order; failed ones carry Kinesis' error code.

        Raises:
            ValueError: the batch breaks a PutRecords limit (checked before sending).
            TransientError: the whole call was throttled or the network failed.
            ConfigError: the stream does not exist or the credentials are refused.
        """
        check_put_batch(records)
        response = self._call(
            self._client.put_records,
            StreamName=self.name,
            Records=[{"Data": rec.data, "PartitionKey": rec.partition_key} for rec in records],
        )
        results = []
        for entry in response["Records"]:
            if entry.get("ErrorCode"):
                results.append(PutResult(None, None, entry["ErrorCode"], entry.get("ErrorMessage")))
            else:
                results.append(PutResult(entry["ShardId"], entry["SequenceNumber"]))
        return results

    def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Return an iterator (Kinesis' own, wrapped with the position to renew it).

        Raises:
            ValueError: unknown shard, or the argument its type needs is missing.
        """
        kind = IteratorType(iterator_type)
        known = {s.shard_id for s in self._shards or ()}
        if shard_id not in known and shard_id not in {s.shard_id for s in self.list_shards()}:
            raise ValueError(f"no open shard {shard_id!r} in Kinesis stream {self.name!r}")
        spec: dict[str, Any] = {"s": shard_id, "t": kind.value}
        if kind in (IteratorType.AT_SEQUENCE_NUMBER, IteratorType.AFTER_SEQUENCE_NUMBER):
            if sequence_number is None:
                raise ValueError(f"{kind.value} needs a sequence_number")
            if not sequence_number.isdigit():
                raise ValueError(f"{sequence_number!r} is not a sequence number")
            spec["q"] = sequence_number
        elif kind is IteratorType.AT_TIMESTAMP:
            if timestamp is None:
                raise ValueError("AT_TIMESTAMP needs a timestamp")
            if timestamp.tzinfo is None:
                raise ValueError("timestamp must be timezone-aware (UTC)")
            spec["ts"] = timestamp.timestamp()
        return self._wrap(spec, self._aws_iterator(spec))

    def _aws_iterator(self, spec: dict[str, Any]) -> str:
        kwargs: dict[str, Any] = {
            "StreamName": self.name,
            "ShardId": spec["s"],
            "ShardIteratorType": spec["t"],
        }
        if "q" in spec:
            kwargs["StartingSequenceNumber"] = spec["q"]
        if "ts" in spec:
            kwargs["Timestamp"] = datetime.fromtimestamp(spec["ts"], UTC)
        response = self._call(self._client.get_shard_iterator, **kwargs)
        return str(response["ShardIterator"])

    @staticmethod
    def _wrap(spec: dict[str, Any], aws_iterator: str) -> str:
        body = json.dumps({**spec, "i": aws_iterator}, separators=(",", ":")).encode()
        return _ITERATOR_PREFIX + base64.urlsafe_b64encode(body).decode()

    @staticmethod
    def _unwrap(iterator: str) -> tuple[dict[str, Any], str]:
        if not iterator.startswith(_ITERATOR_PREFIX):
            raise ValueError(f"{iterator[:40]!r}... is not a Kinesis stream iterator")
        try:
            spec = json.loads(base64.urlsafe_b64decode(iterator[len(_ITERATOR_PREFIX) :]))
        except ValueError:
            raise ValueError(f"{iterator[:40]!r}... is a damaged Kinesis stream iterator") from None
        return spec, str(spec.pop("i"))

    def get_records(self, iterator: str, *, limit: int = MAX_GET_RECORDS) -> GetRecordsResult:
        """GetRecords from the iterator; an expired iterator is renewed from its position.

        Raises:
            ValueError: ``limit`` outside 1-10,000 or a foreign iterator.
            TransientError: read throughput exceeded or network failure: retry the same
                iterator.
        """
        if not 1 <= limit <= MAX_GET_RECORDS:
            raise ValueError(f"limit must be 1-{MAX_GET_RECORDS}, got {limit}")
        spec, aws_iterator = self._unwrap(iterator)
        try:
            response = self._call(self._client.get_records, ShardIterator=aws_iterator, Limit=limit)
        except _ExpiredIteratorError:
            aws_iterator = self._aws_iterator(spec)  # Kinesis iterators live 5 minutes
            response = self._call(self._client.get_records, ShardIterator=aws_iterator, Limit=limit)
        shard_id = spec["s"]
        records = [
            StreamRecord(
                shard_id,
                rec["SequenceNumber"],
                rec["PartitionKey"],
                bytes(rec["Data"]),
                _aware_utc(rec["ApproximateArrivalTimestamp"]),
            )
            for rec in response.get("Records", [])
        ]
        next_aws = response.get("NextShardIterator")
        if records:
            spec = {"s": shard_id, "t": "AFTER_SEQUENCE_NUMBER", "q": records[-1].sequence_number}
        next_iterator = None if next_aws is None else self._wrap(spec, next_aws)
        return GetRecordsResult(records, next_iterator, int(response.get("MillisBehindLatest", 0)))

    def close(self) -> None:
        """Nothing to release: boto3 clients close their pool when collected."""

    # -- inspection ---------------------------------------------------------------

    def describe(self, checkpoints: CheckpointStore | None = None) -> dict[str, Any]:
        """A JSON-able summary like `LocalStream.describe` (Kinesis has no record counts).

        ``records`` and ``lag_records`` are None: Kinesis does not count records;
        watch ``GetRecords.IteratorAgeMilliseconds`` in CloudWatch for lag.
        """
        summary = self._call(self._client.describe_stream_summary, StreamName=self.name)[
            "StreamDescriptionSummary"
        ]
        shards = [
            {
                "shard_id": s.shard_id,
                "starting_hash_key": str(s.starting_hash_key),
                "ending_hash_key": str(s.ending_hash_key),
                "records": None,
                "first_sequence": None,
                "last_sequence": None,
            }
            for s in self.list_shards()
        ]
        consumers = [
            {"consumer": consumer, "shard_id": shard_id, "checkpoint": seq, "lag_records": None}
            for consumer, by_shard in sorted(
                (checkpoints.checkpoints() if checkpoints else {}).items()
            )
            for shard_id, seq in sorted(by_shard.items())
        ]
        return {
            "backend": "kinesis",
            "name": self.name,
            "path": summary.get("StreamARN"),
            "status": summary.get("StreamStatus"),
            "retention_hours": float(summary.get("RetentionPeriodHours", 24)),
            "shards": shards,
            "consumers": consumers,
        }


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
