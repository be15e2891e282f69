"""What Slack sends twice is acted on once: its retries of an event (`claim_event`, `event_done`: marked done only
once its listener's work is, so that a retry of one cut short is acted on), a double click, the same command
repeated, and a post for everyone in a channel that two people ask for at once (`post_once`: the handover so far).

Decided in the store (the Deduplication port), never in process memory, so every replica behind the same store
agrees on which delivery was the first. Keys carry a hash of what the person typed, not the text itself.

A command or click whose action fails (PagerDuty refusing or rate-limiting it, the person unknown to it: nothing was
done) is forgotten, so that the person's next try acts rather than being told "already on it". One whose outcome is
unknown (no answer, a 500/502/504: `OutcomeUnknown`) is not: PagerDuty may have paged, and the same click again within
the window would page twice. The window is counted from the answer: while the request is under way (a slow
PagerDuty can take 10 s to answer, or not answer) the same click again is a repeat however long it takes.

Under way, the key holds a short lease (UNDER_WAY_LEASE_SECONDS) that the replica acting renews every third of it
for as long as the action really runs. A replica that dies mid-request (killed, its machine lost) stops renewing, so
the on-call engineer retrying on a surviving replica is acted on once the lease has run out, not told "Already on
it" for as long as the slowest request could take. The renewal is stopped, and a renewal already writing waited
for, before the answer's window is recorded or the key forgotten: a late renewal never lengthens the one or brings
back the other. A request cut short by the bot stopping keeps its lease too (its PagerDuty call, on a thread pool,
may still be carried out): the same request on another replica is acted on once the lease has run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from bot.errors import OutcomeUnknown
from bot.ports import Clock, Deduplication

T = TypeVar("T")
log = logging.getLogger(__name__)

# Slack retries an event for up to about an hour (three retries, backing off).
RETRY_WINDOW_SECONDS = 3600.0
# The same person clicking or sending the same thing within a few seconds meant it once.
REPEAT_WINDOW_SECONDS = 5.0
# Something posted for everyone in a channel (the handover so far) asked for again within this long of its answer,
# by anyone, is not posted again: the channel has it, and the one asking is pointed to it. Longer than the same
# person's repeat: two people seeing the same alarm ask within seconds of each other, not within a double click.
POSTED_WINDOW_SECONDS = 60.0
# How long a request under way is covered from its claim or its last renewal (renewed every third of it while the
# action runs, however long PagerDuty takes). A replica dying mid-request leaves the key this long at most: the
# same request on another replica is acted on after that. A request still running loses its cover only when no
# renewal lands for a whole lease (the two due meanwhile refused, or the event loop or the store stalled for 10 s).
UNDER_WAY_LEASE_SECONDS = 15.0
# Not "being handled": the first may already have been answered, with "it may or may not have been done".
ALREADY_COMMANDED = ("Already on it — you sent the same command a moment ago; its answer says how it went. Send it"
                     " again in a few seconds if you still need to.")
ALREADY_CLICKED = "Already on it — your first click's answer says how it went."


class Repeats:
    def __init__(self, dedup: Deduplication, clock: Clock, *,
                 renew_every: float = UNDER_WAY_LEASE_SECONDS / 3) -> None:
        """`renew_every`: real seconds between renewals of a request's lease while its action runs (tests shorten
        it; the lease itself is counted on `clock`)."""
        self._dedup, self._clock, self._renew_every = dedup, clock, renew_every

    async def claim_event(self, event_id: str) -> str | None:
        """Claim an Events API event, before it is acknowledged (a store failing here fails the request, and Slack
        sends it again): its claim, for `event_done`, or None for Slack's retry of an event done, or under way, on
        any replica. The claim is a lease (UNDER_WAY_LEASE_SECONDS), renewed while the event's work runs: a replica
        dying before its work is done leaves it to run out, and Slack's next retry is acted on."""
        key = _key("slack-event", event_id)
        return key if await self._dedup.first_time(key, UNDER_WAY_LEASE_SECONDS, self._now()) else None

    async def event_done(self, act: Callable[[], Awaitable[object]], claim: str | None) -> None:
        """Run `act` (the claimed event's work): done, the event is seen for RETRY_WINDOW_SECONDS; failing or cut
        short (the bot stopping), it is forgotten, so that Slack's retry of it is acted on rather than dropped as a
        repeat of work never done (every event's work is safe to do again: an answer, a Home, an inbox record keyed
        by its own id). No claim (a request with no event id): `act` runs."""
        if claim is None:
            await act()
            return
        try:
            async with self._under_way(claim):
                await act()
        except BaseException:
            try:
                await self._dedup.forget(claim)
            except Exception:  # the store failing too: the lease runs out by itself
                log.warning("repeat guard: a Slack event that failed or was cut short could not be forgotten; "
                            "Slack's retries of it are acted on once its %gs lease has run out",
                            UNDER_WAY_LEASE_SECONDS, exc_info=True)
            raise
        await self._window_from_answer(claim, RETRY_WINDOW_SECONDS)

    async def first_click(self, user: str, action_id: str, incident_id: str) -> bool:
        return await self._first("click", REPEAT_WINDOW_SECONDS, user, action_id, incident_id)

    async def first_command(self, user: str, subcommand: str, text: str, about: str) -> bool:
        """The same subcommand with the same text `about` the same incident (its id; the channel for a subcommand
        that names none). A click on a card button that acts at once is the subcommand it stands for."""
        return await self._first("command", REPEAT_WINDOW_SECONDS, user, subcommand, text, about)

    async def command_once(self, act: Callable[[], Awaitable[T]], user: str, subcommand: str, text: str,
                           about: str) -> T | None:
        """`act()`'s answer, or None for a repeat of a command (see `first_command`) still in its window. A failed
        `act` is forgotten: the person's next try is not a repeat."""
        return await self._once(act, "command", user, subcommand, text, about)

    async def click_once(self, act: Callable[[], Awaitable[T]], user: str, action_id: str,
                         incident_id: str) -> T | None:
        """As `command_once`, for a click (see `first_click`)."""
        return await self._once(act, "click", user, action_id, incident_id)

    async def submission_once(self, act: Callable[[], Awaitable[T]], user: str, form: str, text: str,
                              incident_id: str) -> T | None:
        """As `command_once`, for a form submitted (see `first_submission`)."""
        return await self._once(act, "form", user, form, text, incident_id)

    async def post_once(self, act: Callable[[], Awaitable[T]], what: str) -> T | None:
        """As `command_once`, for a post for everyone in a channel: keyed by `what` is posted (e.g. a rota's
        handover so far for the shift under way), not by who asked, and repeated by anyone within
        POSTED_WINDOW_SECONDS of its answer."""
        return await self._once(act, "post", what, window=POSTED_WINDOW_SECONDS)

    async def _once(self, act: Callable[[], Awaitable[T]], kind: str, *parts: str,
                    window: float = REPEAT_WINDOW_SECONDS) -> T | None:
        key = _key(kind, *parts)
        # Under way, the request is covered for as long as this replica works on it (a slow PagerDuty: the same
        # click again while the first hangs must not page twice); answered, its repeats are counted from the answer.
        if not await self._dedup.first_time(key, UNDER_WAY_LEASE_SECONDS, self._now()):
            return None
        answered = False  # act() returned, or may have acted (OutcomeUnknown): its key is never forgotten
        try:
            async with self._under_way(key):
                try:
                    done = await act()
                except OutcomeUnknown:
                    answered = True
                    raise
                answered = True
        except OutcomeUnknown:  # it may have been done: the same again at once would do it twice
            await self._window_from_answer(key, window)
            raise
        except asyncio.CancelledError:
            # Cancelled (the bot stopping) during the action or after its answer: the action may have been, or may
            # yet be, carried out (PagerDuty's client runs on a thread pool, which a cancellation does not stop), so
            # the key keeps its lease (at most UNDER_WAY_LEASE_SECONDS), as a done or maybe-done action must.
            raise
        except BaseException:
            if not answered:  # it failed before its answer: nothing was done, and the person may try again at once
                await self._dedup.forget(key)
            raise
        await self._window_from_answer(key, window)
        return done

    @contextlib.asynccontextmanager
    async def _under_way(self, key: str) -> AsyncIterator[None]:
        """The key's lease renewed while the body runs. On leaving, the renewal is stopped and one already writing
        is waited for (not cancelled: a write cancelled mid-way may still land, on PostgreSQL after what follows),
        so that nothing written next (the answer's window, or forgetting the key) is overwritten by a renewal."""
        answered = asyncio.Event()
        renewing = asyncio.create_task(self._keep_under_way(key, answered))
        try:
            yield
        finally:
            answered.set()
            await renewing

    async def _keep_under_way(self, key: str, answered: asyncio.Event) -> None:
        """Renew the lease every `renew_every` until answered. A renewal the store refuses is logged, never raised:
        the action goes on, and the key keeps the lease it has (a later renewal may still succeed)."""
        while True:
            # Not asyncio.wait_for: Python 3.11's drops a cancellation that lands as the wait it guards ends (here,
            # just after the answer), and the command's task would go on as if never cancelled.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._renew_every):
                    await answered.wait()
            if answered.is_set():
                return
            try:
                await self._dedup.remember(key, UNDER_WAY_LEASE_SECONDS, self._now())
            except Exception:
                log.warning("repeat guard: the lease of a request under way could not be renewed; if the store stays"
                            " unreachable, the same request may be acted on again %gs after the last renewal",
                            UNDER_WAY_LEASE_SECONDS, exc_info=True)

    async def _window_from_answer(self, key: str, window: float) -> None:
        """The repeat window counted from now. A store failing here must not turn an action done into an error for
        the person: the key then keeps its lease (at most UNDER_WAY_LEASE_SECONDS)."""
        try:
            await self._dedup.remember(key, window, self._now())
        except Exception:
            log.warning("repeat guard: the %gs window of a request answered could not be recorded; the same request"
                        " is taken as a repeat for up to %gs from its last lease instead", window,
                        UNDER_WAY_LEASE_SECONDS, exc_info=True)

    async def first_submission(self, user: str, form: str, text: str, incident_id: str) -> bool:
        return await self._first("form", REPEAT_WINDOW_SECONDS, user, form, text, incident_id)

    async def _first(self, kind: str, window_seconds: float, *parts: str) -> bool:
        return await self._dedup.first_time(_key(kind, *parts), window_seconds, self._now())

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _key(kind: str, *parts: str) -> str:
    return f"{kind}:{hashlib.sha256(chr(0x1f).join(parts).encode()).hexdigest()[:32]}"
