"""What the app mailed (the in-memory sender of the test settings), and the links in it."""

from __future__ import annotations

import re

from fastapi import FastAPI

from storefront.core.email import EmailMessage, MemoryEmailSender

_LINK = re.compile(r"(https?://\S+)\?token=(\S+)")


def outbox(app: FastAPI) -> list[EmailMessage]:
    sender = app.state.email_sender
    assert isinstance(sender, MemoryEmailSender)
    return sender.outbox


def link_token(message: EmailMessage, path: str) -> str:
    """The token of the `{frontend_url}{path}?token=...` link in a mail's text."""
    match = _LINK.search(message.text)
    assert match is not None, message.text
    assert match.group(1) == f"http://localhost:5173{path}"
    return match.group(2)


def mails_to(app: FastAPI, address: str, subject_part: str) -> list[EmailMessage]:
    return [m for m in outbox(app) if m.to == address and subject_part in m.subject]
