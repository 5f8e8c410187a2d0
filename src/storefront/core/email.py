"""Outgoing e-mail: a sender protocol, three senders, and the per-request outbox.

Services put messages in the request's `Outbox`; the outbox is delivered by a background task
after the response has been sent, so that a slow SMTP server never delays an answer and a
request that fails (and rolls back) sends nothing.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from typing import Annotated, Protocol

import anyio.to_thread
from fastapi import BackgroundTasks, Depends, Request

from storefront.core.config import Settings
from storefront.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class ConsoleEmailSender:
    """Logs each message: the default in development, where the links are what you need.

    Outside development the body (which carries single-use tokens) is left out of the log."""

    def __init__(self, *, include_body: bool) -> None:
        self.include_body = include_body

    async def send(self, message: EmailMessage) -> None:
        body = message.text if self.include_body else "(body not logged outside development)"
        log.info("email_sent", backend="console", to=message.to, subject=message.subject, body=body)


class MemoryEmailSender:
    """Keeps every message in `outbox` (tests read the links from it)."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.outbox.append(message)


class SmtpEmailSender:
    """Plain-text mail over SMTP (STARTTLS by default), in a worker thread: smtplib blocks."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.starttls = settings.smtp_starttls
        self.timeout = settings.smtp_timeout_seconds
        self.sender = settings.email_from

    def _send_sync(self, message: EmailMessage) -> None:
        mime = MimeMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime.set_content(message.text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username and self.password is not None:
                smtp.login(self.username, self.password.get_secret_value())
            smtp.send_message(mime)

    async def send(self, message: EmailMessage) -> None:
        await anyio.to_thread.run_sync(self._send_sync, message)


def build_email_sender(settings: Settings) -> EmailSender:
    if settings.email_backend == "smtp":
        return SmtpEmailSender(settings)
    if settings.email_backend == "memory":
        return MemoryEmailSender()
    return ConsoleEmailSender(include_body=settings.is_development)


@dataclass(slots=True)
class Outbox:
    """The messages a request wants to send once it has succeeded."""

    messages: list[EmailMessage] = field(default_factory=list)

    def put(self, message: EmailMessage) -> None:
        self.messages.append(message)

    async def deliver(self, sender: EmailSender) -> None:
        for message in self.messages:
            try:
                await sender.send(message)
            except Exception:  # one failed mail must not stop the others, nor crash anything
                log.exception("email_delivery_failed", to=message.to, subject=message.subject)


async def get_outbox(request: Request, background: BackgroundTasks) -> Outbox:
    outbox = Outbox()
    # Background tasks run only after a successful response has been sent.
    background.add_task(outbox.deliver, request.app.state.email_sender)
    return outbox


OutboxDep = Annotated[Outbox, Depends(get_outbox)]
