"""Notifier backends against real local servers: SNS (moto) -> SQS, SMTP (aiosmtpd), webhook."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from petrostream.alerts.base import DeliveryError, TransientError
from petrostream.alerts.smtp import SmtpNotifier
from petrostream.alerts.sns import SnsNotifier
from petrostream.alerts.webhook import WebhookNotifier


@dataclass(frozen=True)
class FakeAlert:
    alert_id: str = "a1b2c3"
    well_id: str = "WELL-00011"
    instance_id: str = "WELL-00011_20140530100015"
    rule: str = "p_pdg_jump"
    category: str = "process"
    severity: str = "critical"
    status: str = "open"
    ts: str = "2024-01-02 03:04:05.678"
    opened_at: str = "2024-01-02 03:04:05.678"
    sensor: str = "p_pdg"
    value: float = 3.2e7
    message: str = "P-PDG jumped by 40 bar in 10 s"
    diagnosis: str | None = None
    confidence: float | None = None
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- SNS --------------------------------------------------------------------------


def test_sns_notifier_delivers_to_an_sqs_subscriber(aws_env: str) -> None:
    # given a topic with an SQS queue subscribed (raw delivery off: SNS envelope)
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    topic = sns.create_topic(Name="petrostream-alerts-test")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    # when an alert is notified
    SnsNotifier(topic).notify(FakeAlert())

    # then the queue holds the alert JSON with subject and attributes
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    body = json.loads(envelope["Message"])
    assert body["key"] == "a1b2c3:open"
    assert body["alert"]["well_id"] == "WELL-00011"
    assert body["alert"]["value"] == 3.2e7
    assert "CRITICAL" in envelope["Subject"]
    assert envelope["MessageAttributes"]["severity"]["Value"] == "critical"


def test_sns_notifier_reports_a_missing_topic_as_final(aws_env: str) -> None:
    # given a topic ARN that does not exist
    notifier = SnsNotifier("arn:aws:sns:us-east-1:123456789012:nope")
    # when / then
    with pytest.raises(DeliveryError, match="nope"):
        notifier.notify(FakeAlert())


# -- SMTP -------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_smtp_notifier_sends_one_mail_per_alert(smtp_server: tuple[int, _Inbox]) -> None:
    # given a real SMTP server on loopback
    port, inbox = smtp_server
    notifier = SmtpNotifier(
        "127.0.0.1", port, sender="petrostream@example.com", recipients=["ops@example.com"]
    )
    # when
    notifier.notify(FakeAlert())
    # then
    assert len(inbox.messages) == 1
    envelope = inbox.messages[0]
    assert envelope.rcpt_tos == ["ops@example.com"]
    text = envelope.content.decode()
    assert "Subject: [PetroStream CRITICAL] WELL-00011 p_pdg_jump open" in text
    assert "X-PetroStream-Key: a1b2c3:open" in text
    assert "P-PDG jumped" in text


def test_smtp_notifier_unreachable_server_is_transient() -> None:
    # given nothing listens on the port
    notifier = SmtpNotifier(
        "127.0.0.1",
        _free_port(),
        sender="a@example.com",
        recipients=["b@example.com"],
        timeout_s=2,
    )
    # when / then
    with pytest.raises(TransientError, match="unreachable"):
        notifier.notify(FakeAlert())


# -- webhook ----------------------------------------------------------------------


class _Hook:
    def __init__(self, fail_first: int, fail_status: int) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def webhook_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, _Hook]]:
    fail_first, fail_status = getattr(request, "param", (0, 503))
    hook = _Hook(fail_first, fail_status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hook.requests.append((dict(self.headers), body))
            status = hook.fail_status if len(hook.requests) <= hook.fail_first else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", hook
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_posts_the_alert_json(webhook_server: tuple[str, _Hook]) -> None:
    url, hook = webhook_server
    WebhookNotifier(url, sleep=lambda s: None).notify(FakeAlert())
    assert len(hook.requests) == 1
    headers, body = hook.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "a1b2c3:open"
    assert body["alert"]["rule"] == "p_pdg_jump"


@pytest.mark.parametrize("webhook_server", [(2, 503)], indirect=True)
def test_webhook_retries_a_server_that_fails_first(webhook_server: tuple[str, _Hook]) -> None:
    # given a server that answers 503 twice, then 204
    url, hook = webhook_server
    sleeps: list[float] = []
    # when
    WebhookNotifier(url, attempts=3, backoff_s=0.1, sleep=sleeps.append).notify(FakeAlert())
    # then it succeeded on the third call, with doubling backoff in between
    assert len(hook.requests) == 3
    assert sleeps == [0.1, 0.2]


@pytest.mark.parametrize("webhook_server", [(5, 500)], indirect=True)
def test_webhook_past_its_budget_raises_transient(webhook_server: tuple[str, _Hook]) -> None:
    url, hook = webhook_server
    with pytest.raises(TransientError, match="failed 3 times: HTTP 500"):
        WebhookNotifier(url, attempts=3, sleep=lambda s: None).notify(FakeAlert())
    assert len(hook.requests) == 3


@pytest.mark.parametrize("webhook_server", [(1, 400)], indirect=True)
def test_webhook_client_error_is_final_without_retry(webhook_server: tuple[str, _Hook]) -> None:
    url, hook = webhook_server
    with pytest.raises(DeliveryError, match="HTTP 400"):
        WebhookNotifier(url, attempts=3, sleep=lambda s: None).notify(FakeAlert())
    assert len(hook.requests) == 1


def test_the_diagnosis_reaches_the_subject_and_an_update_has_its_own_key() -> None:
    from petrostream.alerts.base import alert_subject, notification_key

    # given an open alert diagnosed as a DHSV closure, and its first revision
    opened = FakeAlert(diagnosis="SPURIOUS_CLOSURE_OF_DHSV", confidence=0.93)
    update = FakeAlert(status="update", diagnosis="SEVERE_SLUGGING", confidence=0.6, revision=1)
    # then the subject names the event and its confidence
    assert alert_subject(opened).endswith("p_pdg_jump open: SPURIOUS_CLOSURE_OF_DHSV 0.93")
    # and each revision is a notification of its own, open and closed keep their keys
    assert notification_key(opened) == "a1b2c3:open"
    assert notification_key(update) == "a1b2c3:update:1"
    assert alert_subject(FakeAlert()).endswith("p_pdg_jump open")
