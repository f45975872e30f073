"""`SmtpNotifier`: one e-mail per alert through an SMTP server (stdlib smtplib)."""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from petrostream.alerts.base import (
    AlertLike,
    DeliveryError,
    TransientError,
    alert_payload,
    alert_subject,
    diagnosis_text,
    notification_key,
)
from petrostream.errors import ConfigError


class SmtpNotifier:
    """Sends each alert as a plain-text e-mail with the alert's JSON attached in the body.

    A 4xx reply, a dropped connection or a timeout raise `TransientError`; a 5xx
    reply (recipient refused, authentication failed) raises `DeliveryError`.
    The ``Message-ID``-like header ``X-PetroStream-Key`` carries `notification_key`.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: Sequence[str],
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not recipients:
            raise ConfigError("SMTP notifier needs at least one recipient address")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout_s = timeout_s

    def _message(self, alert: AlertLike) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = alert_subject(alert)
        message["X-PetroStream-Key"] = notification_key(alert)
        body = json.dumps(alert_payload(alert), indent=2, sort_keys=True)
        diagnosis = diagnosis_text(alert)
        lead = f"Diagnosis: {diagnosis}\n" if diagnosis else ""
        message.set_content(f"{alert.message}\n{lead}\n{body}\n")
        return message

    def notify(self, alert: AlertLike) -> None:
        """Send the e-mail. See the class docstring for errors."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(self._message(alert))
        except smtplib.SMTPResponseException as exc:
            where = f"SMTP {self.host}:{self.port}"
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"{where} deferred the alert: {exc.smtp_code}") from None
            raise DeliveryError(f"{where} refused the alert: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused recipients {sorted(exc.recipients)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP {self.host}:{self.port} unreachable: {exc}") from None
