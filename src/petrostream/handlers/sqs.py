"""`SqsDeadLetters`: undecodable records to the SQS dead-letter queue on AWS."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from petrostream.errors import TransientError
from petrostream.handlers.base import DeadLetter

_BATCH = 10  # SendMessageBatch takes at most 10 entries


class SqsDeadLetters:
    """Sends each dead letter as one JSON message (`DeadLetter.to_dict`) to ``queue_url``."""

    def __init__(self, queue_url: str, *, client: Any | None = None) -> None:
        self.queue_url = queue_url
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self._client = client

    def put(self, letters: Sequence[DeadLetter]) -> None:
        """Send in batches of 10; any entry SQS did not accept raises `TransientError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(letters), _BATCH):
            chunk = letters[start : start + _BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(d.to_dict()),
                    "MessageAttributes": {
                        "reason": {"DataType": "String", "StringValue": d.reason}
                    },
                }
                for i, d in enumerate(chunk)
            ]
            try:
                answer = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise TransientError(f"SQS {self.queue_url}: {exc}") from None
            if answer.get("Failed"):
                raise TransientError(f"SQS {self.queue_url} refused {answer['Failed']}")
