"""The TCP proxy on a loop of its own thread, for tests that are not async themselves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from tests.support.tcp_proxy import TcpProxy


class ThreadedProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.proxy = TcpProxy(target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    @property
    def port(self) -> int:
        return self.proxy.port

    def start(self) -> None:
        self.thread.start()
        self._run(self.proxy.start())

    def cut(self) -> None:
        self._run(self.proxy.cut())

    def restore(self) -> None:
        self._run(self.proxy.restore())

    def stop(self) -> None:
        self._run(self.proxy.cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
