"""Race tests that prove their requests raced: the server side of each request is timed.

`ServerTimeline` wraps an ASGI app and records, per `X-Request-ID`, when the app started and
finished each request. A race test sends its requests at once and then checks, with
`overlapped`, that every one of them was in the server while every other one was: had they
run one after another, the test would prove nothing and says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class ServerTimeline:
    app: ASGIApp
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        label = dict(scope["headers"]).get(b"x-request-id", b"").decode()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.spans[label] = (started, time.perf_counter())

    @staticmethod
    def label(name: str) -> dict[str, str]:
        """The header that names a request on the timeline."""
        return {"X-Request-ID": name}

    def overlapped(self, labels: list[str] | None = None) -> bool:
        """True if all these requests (default: every one recorded) were inside the server at
        one same instant."""
        spans = list(self.spans.values()) if labels is None else [self.spans[x] for x in labels]
        return len(spans) > 1 and max(s for s, _ in spans) < min(e for _, e in spans)
