"""What the bot has accepted and not yet finished, and the stop that lets it finish: the one registry a graceful stop
drains.

Slack is answered as soon as a listener acknowledges (a reaction only once it is recorded: commands/listeners.py);
what follows — a PagerDuty call on the person's behalf, and the answer telling them how it went — runs after the ack
on Bolt's own tasks (a button, a form, a command that may open a modal) or on the follow-up workers
(commands/answers.py). Nothing else knows about those tasks, so each piece of work says here that it is under way, and
for whom (`InFlight.under_way`: a context manager the listeners enter first and leave last; `queued`/`started` for the
follow-up workers' queue). Requests being handed to Bolt and webhooks being stored enter too, so that nothing under
way is left writing to a store that is being closed.

A stop (bot/app/runtime.py `Bot.stop`, on SIGTERM) first stops taking: from then on `taking` is false and every door
refuses new work in a way its sender acts on (bot/app/web.py: PagerDuty's and ServiceNow's webhooks get 503 and are
delivered again, to another replica or to this one restarted; Slack's requests likewise, a command being answered
in words, since Slack never sends a command again). Then `drain` gives what was accepted, and the scheduled jobs
running (bot/app/scheduler.py registers each run here too), a bounded time to finish and answer, and cuts short what
is left: each piece cancelled is logged at WARNING with what it was, for whom and on which incident — the person was
never told how it went, and PagerDuty may have acted (its calls run on a thread pool that a cancellation does not
stop), so the log line is where someone can find it and tell them; a job's line says which slot it was cut in and
which run does what it left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.domain.storable import storable_document

log = logging.getLogger(__name__)
# After the cancellation, how long the work cut short gets to end (its `finally` blocks, Bolt's completion handler)
# before the stop goes on to close the clients and the store under whatever is still running.
CANCELLED_END_SECONDS = 1.0
# What a door answers while the bot stops: the sender sends it again (Slack's events and PagerDuty's webhooks do so
# by themselves; a person clicking or submitting sees Slack's error, the form keeping what they typed).
STOPPING = "this replica of the bot is stopping (a deploy or a restart) and takes no new work: send it again"
# What a person who types a command while the bot stops is told: Slack never sends a command again by itself.
STOPPING_ANSWER = ("⏳ Paved Road is restarting (a deploy) and did not take that command: nothing was done. Send it "
                   "again in a few seconds.")


@dataclass(frozen=True)
class Work:
    """One piece of accepted work, as a log line needs it to be found: what it is (`/incident resolve`, a card's
    button, a form), who asked (a Slack user id), and where (an incident id when the request names one; the channel
    it came from)."""

    kind: str
    user: str = ""
    incident: str = ""
    channel: str = ""
    # What its being cut short leaves, and what does it again, when that is not a person left without an answer
    # (a scheduled job: bot/app/scheduler.py).
    cut_short: str = ""

    def __str__(self) -> str:
        about = [f"user {self.user}" if self.user else "", f"incident {self.incident}" if self.incident else "",
                 f"channel {self.channel}" if self.channel else ""]
        return f"{self.kind} ({', '.join(a for a in about if a) or 'nobody named'})"


@dataclass(frozen=True)
class Cut:
    """A piece of work the stop cut short: running (`started`), or queued and never started."""

    work: Work
    started: bool

    def notice(self) -> str | None:
        """What its person is told, in their direct messages with the app, once the bot has stopped (bot/app/
        stopping.py queues it in the outbox, which another replica or this one restarted sends); None when nobody
        waits for a word (a scheduled job, an event Slack sends again, a Home published again when next opened)."""
        work = self.work
        if not work.user or work.cut_short:
            return None
        what = (f"`{work.kind}`" if work.kind.startswith("/") else "your click on a button" if "button" in work.kind
                else "the form you submitted" if work.kind.startswith("form") else f"your {work.kind}")
        about = f" (incident {work.incident})" if work.incident else ""
        if not self.started:
            return (f"⚠️ Paved Road restarted (a deploy) before it could start {what}{about}: nothing was done. "
                    "Send it again.")
        return (f"⚠️ Paved Road restarted (a deploy) while doing {what}{about}, and stopped before it could tell "
                "you how it went: it may or may not have been done, and PagerDuty may have acted. Look at the "
                "incident's card (or `/incident status`) before sending it again.")


def refusal(body: Any) -> BoltResponse:
    """What the bot answers a Slack request while it stops (HTTP or Socket Mode). A command is answered, in words:
    Slack never sends a command again, so the person is told that nothing was done and to send it again. Anything
    else gets 503: Slack sends an event again by itself (to another replica, or to this one restarted); over Socket
    Mode a 503 is no acknowledgement, which Slack treats the same way; a click or a submitted form shows the person
    Slack's error, the form staying open with what they typed."""
    if isinstance(body, dict) and body.get("command"):
        return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": STOPPING_ANSWER}),
                            headers={"Content-Type": "application/json; charset=utf-8"})
    return BoltResponse(status=503, body=json.dumps({"error": STOPPING}),
                        headers={"Content-Type": "application/json; charset=utf-8", "Retry-After": "5"})


# What a log line of work cut short adds when its person is told (`Cut.notice`).
TOLD = " (the person is told so in their direct messages with the app, once the bot has stopped)"
# A request Bolt has in hand and has not yet answered (acknowledged): `DrainingApp` registers it until its listener
# has acknowledged and started.
HANDED_OVER = Work("a Slack request on its way to its listener")


class Queued:
    """A piece of work waiting for a follow-up worker: registered from the moment it is queued, so that a stop waits
    for it (or says it was never started), and handed to `InFlight.started` by the worker that takes it."""

    __slots__ = ("task", "work")

    def __init__(self, work: Work) -> None:
        self.work = work
        self.task: asyncio.Task[object] | None = None  # the task doing it, once started


class InFlight:
    """The registry: what is under way or queued, and whether new work is taken. One per bot."""

    def __init__(self) -> None:
        self._taking = True
        self._entries: set[Queued] = set()
        self._changed = asyncio.Event()

    @property
    def taking(self) -> bool:
        """Whether new requests are taken: true until the bot begins to stop."""
        return self._taking

    def stop_taking(self) -> None:
        self._taking = False

    @contextlib.contextmanager
    def under_way(self, work: Work) -> Iterator[None]:
        """`work` runs on the current task inside this block. Entered and left without waiting, so a listener
        registers in the very step it starts in."""
        entry = self.queued(work)
        with self.started(entry):
            yield

    def queued(self, work: Work) -> Queued:
        """`work` waits for a worker; it counts as under way from now."""
        entry = Queued(work)
        self._entries.add(entry)
        return entry

    @contextlib.contextmanager
    def started(self, entry: Queued) -> Iterator[None]:
        """The current task does `entry`'s work inside this block."""
        entry.task = asyncio.current_task()
        try:
            yield
        finally:
            self.dropped(entry)

    def dropped(self, entry: Queued) -> None:
        """`entry` is done, or will never be started."""
        self._entries.discard(entry)
        self._changed.set()

    def under_way_now(self) -> list[Work]:
        return [entry.work for entry in self._entries]

    async def acknowledged(self, seconds: float) -> None:
        """Stop taking; wait up to `seconds` until every Slack request Bolt has in hand has been answered (acked),
        what follows the ack going on: over Socket Mode the answer goes out on the connection, which must stay open
        until then."""
        self.stop_taking()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while any(entry.work is HANDED_OVER for entry in self._entries):
                    self._changed.clear()
                    await self._changed.wait()

    async def drain(self, seconds: float) -> list[Cut]:
        """Stop taking; wait up to `seconds` for everything under way or queued to finish, then cancel what is
        left and wait briefly for it to end. Returns the work cut short (running or never started), each logged at
        WARNING: the caller tells the people owed an answer (`Cut.notice`)."""
        self.stop_taking()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._entries:
                    self._changed.clear()
                    await self._changed.wait()
        left = list(self._entries)
        for entry in left:
            told = TOLD if Cut(entry.work, entry.task is not None).notice() else ""
            if entry.task is None:
                log.warning("stopping: %s was never started within the %gs the stop gives work under way; nothing "
                            "was done%s", entry.work, seconds, told)
            else:
                log.warning("stopping: %s cut short, unfinished after the %gs the stop gives work under way; %s%s",
                            entry.work, seconds, entry.work.cut_short or "the person was not told how it went, and "
                            "PagerDuty may have acted", told)
                entry.task.cancel()
        for entry in left:
            if entry.task is None:  # its worker will not take it now: FollowUps.close drops it from the queue
                self.dropped(entry)
        running = {entry.task for entry in left if entry.task is not None}
        if running:
            await asyncio.wait(running, timeout=CANCELLED_END_SECONDS)
        return [Cut(entry.work, started=entry.task is not None) for entry in left]


class DrainingApp(AsyncApp):
    """Bolt's app with the bot's door in front: every request it is handed, over HTTP (bot/app/web.py) or Socket
    Mode (Bolt's adapter calls `async_dispatch` too), is refused while the bot stops (`refusal`), and otherwise has
    what people typed made storable (no NUL, no lone surrogate: bot/domain/storable.py) and is under way from the
    moment it is handed over until its listener has started and said so itself. A Bolt
    middleware cannot do this: its async `next()` only marks the chain to go on and returns at once, so the
    middleware's block ended before the request went through the rest of the chain (the once-per-event lookup in
    the store, commands/listeners.py) or its listener was chosen — a stop beginning then saw nothing under way and
    closed the clients and the store under the listener."""

    def __init__(self, in_flight: InFlight, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = in_flight

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        if not self.in_flight.taking:  # the bot is stopping: Slack or the person sends it again
            return refusal(req.body)
        # A NUL typed in a command, a form or a message (Slack sends it as %00 or \u0000) is kept by SQLite but
        # refused by PostgreSQL: the person's follow-up or status update was set aside when applied, a handover note
        # answered "something went wrong". Every listener reads the body from here (Bolt builds `command`, `view`,
        # `event`… from it); the signature was checked on the raw body, which is left as it came.
        req.body = storable_document(req.body)
        with self.in_flight.under_way(HANDED_OVER):
            response = await super().async_dispatch(req)
            # Bolt acknowledges an event before its listener has started, on a task of its own: one turn of the
            # loop lets that listener start and say its work is under way before this request's entry ends.
            await asyncio.sleep(0)
        return response


def user_of(body: dict[str, Any]) -> str:
    """The Slack user a request comes from, or "": what its work is logged as, read before the ack, so it never
    raises (a request missing a field fails after the ack, logged, rather than as a 500)."""
    user = body.get("user")
    return str(user.get("id") or "") if isinstance(user, dict) else ""


def channel_of(body: dict[str, Any]) -> str:
    """The channel a click or form comes from, or "" (as `user_of`)."""
    channel = body.get("channel")
    return str(channel.get("id") or "") if isinstance(channel, dict) else ""
