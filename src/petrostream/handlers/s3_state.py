"""`S3BlobStore`: the detector's shard state objects on S3, written with ``If-Match``.

One object per shard, ``s3://<bucket>/<prefix><shard_id>.state``
(`handlers.shard_state`). A write is conditional on the ETag the object was read
at (``If-None-Match: *`` for the first one), so a stale or retried invocation
gets `StateConflict` instead of overwriting newer state
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
S3 bills a request, not a kilobyte: a shard's 1,000 wells cost one PUT a batch.
Reads are strongly consistent (read-after-write since 2020).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from petrostream.errors import ConfigError, TransientError
from petrostream.handlers.base import StateConflict

DEFAULT_PREFIX: Final = "detector-state/"
_CONFLICT: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_TRANSIENT: Final = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
)


class S3BlobStore:
    """`BlobStore` on an S3 prefix (the low-level client; boto3 comes with the runtime)."""

    def __init__(self, bucket: str, prefix: str = DEFAULT_PREFIX, *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._client = client

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404"):
                return None
            if code in _CONFLICT:
                raise StateConflict(f"s3://{self.bucket}/{kwargs.get('Key', '')}: {code}") from None
            if code == "NoSuchBucket":
                raise ConfigError(
                    f"S3 bucket {self.bucket!r} not found: check PETROSTREAM_STATE_BUCKET"
                ) from None
            if code in _TRANSIENT or "Throttl" in code:
                raise TransientError(f"s3://{self.bucket}: {code}") from None
            raise
        except BotoCoreError as exc:
            raise TransientError(f"s3://{self.bucket}: {exc}") from None

    def transaction(self) -> AbstractContextManager[None]:
        """No grouping on S3: each object is its own conditional write."""
        return nullcontext()

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None."""
        got = self._call("get_object", Key=self.prefix + key)
        if got is None:
            return None
        return got["Body"].read(), str(got["ETag"])

    def put(self, key: str, data: bytes, *, if_match: str | None) -> str:
        """PUT with ``If-Match`` (or ``If-None-Match: *``); the new ETag."""
        condition = {"IfNoneMatch": "*"} if if_match is None else {"IfMatch": if_match}
        got = self._call("put_object", Key=self.prefix + key, Body=data, **condition)
        return str(got["ETag"])

    def list_keys(self) -> list[str]:
        """Every state object's key under the prefix."""
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Prefix=self.prefix, **token) or {}
            keys += [o["Key"][len(self.prefix) :] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = {"ContinuationToken": page["NextContinuationToken"]}
