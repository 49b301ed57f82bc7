"""`/log/stream`: the journal records appended after the page was drawn, as server-sent events (one
JSON object of the row's cells per event), polled from the file every half second. A comment line
every 15 s keeps proxies from closing an idle stream; the server's shutdown ends every stream."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from engine.web.views import source_of
from engine.web.views.log import log_filter, row

POLL_S = 0.5
HEARTBEAT_S = 15.0
STREAMS = web.AppKey("streams_closing", asyncio.Event)


async def log_stream(request: web.Request) -> web.StreamResponse:
    source = source_of(request)
    flt = log_filter(request.query)
    closing = request.app[STREAMS]
    await source.refresh()
    try:
        # A reconnecting EventSource sends the id of the last event it had: it goes on from there.
        index = int(request.headers.get("Last-Event-ID") or request.query.get("after", len(source.journal.entries)))
    except ValueError:
        raise web.HTTPBadRequest(text="after: expected the number of records the page showed\n") from None
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    beat = time.monotonic()
    try:
        while not closing.is_set():
            await source.refresh()
            entries = source.journal.after(index, flt)
            index = len(source.journal.entries)
            for record, entry in zip(source.journal.records(entries), entries, strict=True):
                await response.write(f"id: {index}\ndata: {json.dumps(row(record, entry))}\n\n".encode())
            if not entries and time.monotonic() - beat > HEARTBEAT_S:
                await response.write(b": keep-alive\n\n")
                beat = time.monotonic()
            try:
                await asyncio.wait_for(closing.wait(), timeout=POLL_S)
            except TimeoutError:
                pass
    except ConnectionResetError:
        pass  # the browser went away
    return response
