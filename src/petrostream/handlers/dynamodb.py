"""`DynamoDBStateStore`: detection state on AWS, one item per well, conditional writes.

Table (provisioned by ``infra/terraform``): partition key ``pk`` (S). A well's
item is ``{pk: <well_id>, state: B, version: N, positions: M}``; a delivered
notification is ``{pk: "notified#<alert_id>:<status>", expires_at: N}`` (enable
TTL on ``expires_at`` so they expire after `NOTIFIED_TTL_S`).

Why a table and not Kinesis tumbling-window state: a tumbling window hands the
function its state only within one window (at most 15 minutes) and resets it,
while the detector's baselines and open alerts span hours. Conditional writes on
``version`` give exactly the per-shard ordering Kinesis promises: a stale or
retried invocation cannot overwrite newer state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
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


class DynamoDBStateStore:
    """`StateStore` on a DynamoDB table (low-level client: no resource layer in the zip)."""

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

    def transaction(self) -> AbstractContextManager[None]:
        """No grouping on DynamoDB: every save is its own conditional write."""
        return nullcontext()

    def load(self, well_id: str) -> StoredState:
        """Strongly consistent read of the well's item."""
        item = self._call("get_item", Key={"pk": {"S": well_id}}, ConsistentRead=True).get("Item")
        if not item:
            return StoredState()
        positions = {k: v["S"] for k, v in item.get("positions", {}).get("M", {}).items()}
        return StoredState(bytes(item["state"]["B"]), int(item["version"]["N"]), positions)

    def save(
        self, well_id: str, data: bytes, positions: Mapping[str, str], *, expected_version: int
    ) -> int:
        """Put the item if ``version`` is still ``expected_version`` (or absent when 0)."""
        new = expected_version + 1
        item = {
            "pk": {"S": well_id},
            "state": {"B": data},
            "version": {"N": str(new)},
            "positions": {"M": {k: {"S": v} for k, v in positions.items()}},
        }
        if expected_version == 0:
            self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        else:
            self._call(
                "put_item",
                Item=item,
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(expected_version)}},
            )
        return new

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
