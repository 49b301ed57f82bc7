"""The fake archive and the fake public fapi served from a background thread's event loop, so the real
CLI (`engine.cli.main.main`, which runs its own `asyncio.run`) can be pointed at them from a plain
synchronous test or the benchmark. Both listen on 127.0.0.1, random ports."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fakes.archive import FakeArchive
from tests.market.fake_public_fapi import FakePublicFapi


class StandIns:
    def __init__(self, archive: FakeArchive, fapi: FakePublicFapi) -> None:
        self.archive = archive
        self.fapi = fapi

    def reset(self) -> None:
        self.archive.reset()
        self.fapi.requests.clear()

    def fapi_data_requests(self) -> list[tuple[str, dict[str, str]]]:
        """klines and fundingRate requests (exchangeInfo left out)."""
        return [(p, q) for p, q in self.fapi.requests if p != "/fapi/v1/exchangeInfo"]

    def flags(self) -> list[str]:
        return ["--archive-url", self.archive.base_url, "--venue-url", self.fapi.base_url]


@contextmanager
def serve_stand_ins(data_dir: Path, exchange_info: Path) -> Iterator[StandIns]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="stand-ins", daemon=True)
    thread.start()
    archive, fapi = FakeArchive(data_dir), FakePublicFapi(exchange_info, data_dir)

    def call(coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)  # type: ignore[arg-type]

    call(archive.start())
    call(fapi.start())
    try:
        yield StandIns(archive, fapi)
    finally:
        call(archive.stop())
        call(fapi.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
