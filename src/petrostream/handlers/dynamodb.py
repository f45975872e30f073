"""The detector's table on AWS: notified markers, and small fleets' shard state objects.

Table (provisioned by ``infra/terraform``): partition key ``pk`` (S).

- `DynamoDBMarkers`: a delivered notification is ``{pk: "notified#<alert_id>:<status>",
  expires_at: N}`` (TTL on ``expires_at`` removes it after `NOTIFIED_TTL_S`): a read
  and a write per alert, not per reading.
- `DynamoDBBlobStore`: a shard's state object (`handlers.shard_state`) as the item
  ``{pk: "shard#<key>", data: B, tag: N}``, written conditionally on ``tag``. DynamoDB
  bills a write unit per started KB and S3 a PUT ($0.625 vs $5 a million): up to
  8 KB of state per shard (a few wells) the table is cheaper; past it, and always
  past the 400 KB item limit, the state goes to S3 (`handlers.s3_state`).

Releases before the per-shard state kept one item per well, ``{pk: <well_id>,
state: B, version: N, positions: M}``; `DynamoDBMarkers.legacy_load` reads such
an item once, when no shard object holds the well yet.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from petrostream.errors import ConfigError, TransientError
from petrostream.handlers.base import StateConflict, StoredState

NOTIFIED_TTL_S: Final = 14 * 24 * 3600
_TRANSIENT: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


ITEM_LIMIT_BYTES: Final = 400 * 1024


class _Table:
    """Calls on one table, their errors translated (low-level client: no resource layer)."""

    def __init__(self, table: str, *, client: Any | None = None) -> None:
        self.table = table
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._client = client

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(TableName=self.table, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "ConditionalCheckFailedException":
                raise StateConflict(f"DynamoDB {self.table}: {code}") from None
            if code == "ResourceNotFoundException":
                raise ConfigError(
                    f"DynamoDB table {self.table!r} not found: check PETROSTREAM_STATE_TABLE"
                ) from None
            if code in _TRANSIENT or code.endswith("Throttling"):
                raise TransientError(f"DynamoDB {self.table}: {code}") from None
            raise
        except BotoCoreError as exc:
            raise TransientError(f"DynamoDB {self.table}: {exc}") from None


class DynamoDBBlobStore(_Table):
    """`BlobStore` of shard state objects as items ``shard#<key>`` (small fleets: see above)."""

    def transaction(self) -> AbstractContextManager[None]:
        """No grouping on DynamoDB: each object is its own conditional write."""
        return nullcontext()

    def get(self, key: str) -> tuple[bytes, str] | None:
        """Strongly consistent read of the shard's item."""
        got = self._call("get_item", Key={"pk": {"S": f"shard#{key}"}}, ConsistentRead=True)
        item = got.get("Item")
        return None if not item else (bytes(item["data"]["B"]), item["tag"]["N"])

    def put(self, key: str, data: bytes, *, if_match: str | None) -> str:
        """Put the item if its ``tag`` is still ``if_match`` (absent for None).

        Raises:
            ConfigError: the object outgrew DynamoDB's 400 KB item (state belongs in S3).
        """
        if len(data) > ITEM_LIMIT_BYTES - 1024:
            raise ConfigError(
                f"the detector state of {key} is {len(data) // 1024} KB, past DynamoDB's "
                '400 KB item: keep the state in S3 (Terraform\'s state_store = "s3", which '
                "sets PETROSTREAM_STATE_BUCKET)"
            )
        tag = 1 if if_match is None else int(if_match) + 1
        item = {"pk": {"S": f"shard#{key}"}, "data": {"B": data}, "tag": {"N": str(tag)}}
        if if_match is None:
            self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        else:
            self._call(
                "put_item",
                Item=item,
                ConditionExpression="tag = :t",
                ExpressionAttributeValues={":t": {"N": if_match}},
            )
        return str(tag)

    def list_keys(self) -> list[str]:
        """Every shard item's key (a scan: only read when a shard misses a well)."""
        keys: list[str] = []
        start: dict[str, Any] = {}
        while True:
            page = self._call(
                "scan",
                ProjectionExpression="pk",
                FilterExpression="begins_with(pk, :p)",
                ExpressionAttributeValues={":p": {"S": "shard#"}},
                **start,
            )
            keys += [i["pk"]["S"].removeprefix("shard#") for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(keys)
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


class DynamoDBMarkers(_Table):
    """`MarkerStore` on the table, plus the per-well items of earlier releases."""

    def legacy_load(self, well_id: str) -> StoredState:
        """A well's state item as releases before the per-shard state wrote it, or none."""
        item = self._call("get_item", Key={"pk": {"S": well_id}}, ConsistentRead=True).get("Item")
        if not item or "state" not in item:
            return StoredState()
        positions = {k: v["S"] for k, v in item.get("positions", {}).get("M", {}).items()}
        return StoredState(bytes(item["state"]["B"]), int(item["version"]["N"]), positions)

    def was_notified(self, key: str) -> bool:
        """Whether the notified marker exists."""
        got = self._call("get_item", Key={"pk": {"S": f"notified#{key}"}}, ConsistentRead=True)
        return "Item" in got

    def mark_notified(self, key: str) -> None:
        """Write the notified marker with its expiry."""
        expires = int(time.time()) + NOTIFIED_TTL_S
        self._call(
            "put_item",
            Item={"pk": {"S": f"notified#{key}"}, "expires_at": {"N": str(expires)}},
        )
