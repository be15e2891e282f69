"""A caller that hangs up on an emulator mid-call, as the real services take it: the emulators' shared code for it.

The emulators hold a call for its injected latency (`Faults.delay`), and a caller may hang up meanwhile: a stopping
bot cuts its effects short mid-call by design (bot/services/dispatcher.py, "Stopping"), a client's own timeout does
the same. Slack, PagerDuty and ServiceNow have the whole call in hand by then (the latency is the network's or their
own processing), so they carry it out and only its answer goes to nobody. So an emulator reads a call's whole body
as it arrives, before it holds the call: once the caller is gone aiohttp reads no more of it, even when all of it came
(aiohttp keeps what was read for the handler's own read). To the service a dropped connection is no error, so the
emulator's log says so at DEBUG (`hangups_told`); a caller gone before its call came in whole asked nothing, and
nothing is done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT_CLOSED = 499  # the status servers log for a request whose client hung up (nginx's "Client Closed Request")


def hangups_told(handler: Handler, log: logging.Logger) -> Handler:
    """`handler`, with a caller's hanging up told in `log` at DEBUG instead of aiohttp's ERROR traceback."""

    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ConnectionResetError:
            if request.transport is not None:
                raise
            log.debug("%s %s: the caller hung up before its call came in whole; nothing done, nobody to answer",
                      request.method, request.path)
            return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")  # written to nobody
        if request.transport is None:
            log.debug("%s %s: carried out; its caller hung up before its answer, nobody to answer (%s)",
                      request.method, request.path, response.status)
        return response

    return answered
