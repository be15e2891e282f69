"""Telling the person how it went: the one error policy for commands, buttons and forms, and the follow-up work.

A `UserError` is shown as written; anything else gets "something went wrong — reference <id>" with the traceback
logged under that id. The work after an acknowledgement runs on follow-up workers (answers in a lane apart from
background work), and its answers go out through the interaction's response_url (or, after a form, privately in the
incident's channel). After a form has closed, a failure quotes back what the person typed into it, so that none of it
is lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from bot.errors import IntegrationError, UserError
from bot.ports import Interactions
from bot.render.format import clip, code_block, escape
from bot.services.actions import TOKEN_FIX, Outcome
from commands.in_flight import Cut, InFlight, Queued, Work

log = logging.getLogger(__name__)
Say = Callable[[str], Awaitable[None]]
# What a handler answers: an outcome, a text, or several texts (a long timeline); [] when a form was opened instead.
Reply = Outcome | str | list[str]
# A follow-up worker's job: the work, and its entry in the registry of work under way.
_Job = tuple[Callable[[], Awaitable[None]], Queued]
# What queued work is, in a stop's log line, when its caller does not say.
AN_ANSWER, BACKGROUND = Work("a command's answer"), Work("background work")
# Why what was typed is quoted back when its work fails: nothing else holds it.
COMMAND_GONE, FORM_GONE = "Slack keeps no command once sent", "the form has closed"


def texts_of(reply: Reply) -> list[str]:
    if isinstance(reply, list):
        return reply
    return [reply.text if isinstance(reply, Outcome) else reply]


async def answer(say: Say, work: Awaitable[Reply], *, keeping: str = "", gone: str = FORM_GONE) -> None:
    """Run the work and tell the person how it went, in words they can act on. `keeping`: what they typed into a
    form that has closed (or a command: `gone` says why nothing else holds it), quoted back if the work fails."""
    try:
        texts = texts_of(await work)
    except UserError as error:
        texts = [f"⚠️ {error}" + kept(keeping, gone)]
    except IntegrationError as error:  # an outside call no service put into words (posting the handover, …)
        reference = uuid.uuid4().hex[:8]
        log.warning("command failed on an outside call (reference %s)", reference, exc_info=True)
        texts = [outside_failure(error, reference) + kept(keeping, gone)]
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("command failed (reference %s)", reference)
        texts = [f"Something went wrong on our side — reference `{reference}`. Check PagerDuty for what changed, "
                 "and give this reference to the platform team." + kept(keeping, gone)]
    for text in texts:
        try:
            await say(text)
        except Exception:  # the answer itself could not be delivered: keep it in the logs, findable
            reference = uuid.uuid4().hex[:8]
            log.exception("could not deliver an answer to Slack (reference %s)", reference)
            return


SERVICE_NAMES = {"slack": "Slack", "pagerduty": "PagerDuty", "servicenow": "ServiceNow"}


def outside_failure(error: IntegrationError, reference: str) -> str:
    """An outside system's failure that reached the answer, in words: which system, what it did, what to do. Not
    "check PagerDuty" for a Slack failure. Steps done before it stand, so the person is told to look, not that
    nothing changed."""
    service = SERVICE_NAMES.get(error.service.lower(), escape(clip(error.service, 40)))
    later = error.retryable or error.status == 429
    if error.credentials_refused and error.service == "slack":
        return (f"⚠️ {service} no longer accepts the bot's token (the app was uninstalled or its token revoked), so "
                f"this was not finished; anything done before that stands. {TOKEN_FIX} Reference `{reference}`.")
    if error.status == 429 or error.code == "ratelimited":
        cause = "is rate-limiting us"
    elif error.outcome_unknown:
        cause = "did not answer properly (it may or may not have done its part)"
    elif error.retryable:
        cause = "is not answering right now"
    elif error.status in (401, 403):
        cause = "refused the bot's credentials or permissions"
    else:
        cause = f"refused a call ({escape(clip(error.detail.split(': ', 1)[-1], 300))})"
    return (f"⚠️ {service} {cause}, so this was not finished; anything done before that stands. Check {service} "
            f"before trying again{' in a minute' if later else ''}. If it keeps failing, give the platform team "
            f"reference `{reference}`.")


def kept(typed: str, gone: str = FORM_GONE) -> str:
    """What someone typed into a form (or a command: `gone` says why nothing else holds it), under an answer saying
    it was not used: whole, escaped (a form's text comes raw), and in a block they can copy from (a ``` typed in it
    does not end the block)."""
    if not typed.strip():
        return ""
    return (f"\n\nWhat you wrote, so that it is not lost ({gone}): copy it to send it again once that "
            f"is sorted, or into PagerDuty directly.\n{code_block(typed)}")


def through_response_url(slack: Interactions, response_url: str) -> Say:
    async def say(text: str) -> None:
        await slack.respond(response_url, text)
    return say


def privately_in(slack: Interactions, channel: str, user: str) -> Say:
    """After a form there is no response_url: answer privately in the incident's channel, or directly."""
    async def say(text: str) -> None:
        try:
            await slack.post_ephemeral(channel, user, text)
        except IntegrationError:  # not in that channel any more: tell them directly
            await slack.post_message(user, text)
    return say


class FollowUps:
    """The work after each ack, on worker tasks rather than one task per command, in two lanes. ANSWERS (someone is
    waiting: a command's reply) have workers enough for a burst of people (an outage, thirty people typing
    `/incident status` at once: each answer is mostly waiting for the store and for Slack's response_url, so more
    workers answer sooner) and never queue behind BACKGROUND work (an App Home to publish: nobody waits for it),
    which has a few workers of its own so that a flood of Home openings cannot crowd out the answers.

    Every piece of work is registered in `in_flight` (commands/in_flight.py) from the moment it is queued, so that a
    stopping bot waits for it: see `drain`."""

    def __init__(self, workers: int = 32, background_workers: int = 4, in_flight: InFlight | None = None) -> None:
        self.in_flight = in_flight or InFlight()
        self._answers: asyncio.Queue[_Job] = asyncio.Queue()
        self._background: asyncio.Queue[_Job] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._counts = {"answers": workers, "background": background_workers}

    def follow_up(self, work: Callable[[], Awaitable[None]], what: Work = AN_ANSWER) -> None:
        """Queue `work` whose answer someone waits for, started only when a worker takes it: work never started
        is simply dropped at close, with no half-made coroutine (and its inner ones) left unawaited. `what`: the
        work as a stop that cuts it short logs it."""
        self._start()
        self._answers.put_nowait((work, self.in_flight.queued(what)))

    def in_background(self, work: Callable[[], Awaitable[None]], what: Work = BACKGROUND) -> None:
        """Queue `work` nobody waits for (as `follow_up`, in the background lane); dropped once the bot stops."""
        if not self.in_flight.taking:
            log.info("stopping: %s not started (nobody waits for it)", what)
            return
        self._start()
        self._background.put_nowait((work, self.in_flight.queued(what)))

    def _start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(self._answers)) for _ in range(self._counts["answers"])]
            self._workers += [asyncio.create_task(self._work(self._background))
                              for _ in range(self._counts["background"])]

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            work, entry = await queue.get()
            with self.in_flight.started(entry):
                try:
                    await work()
                except Exception:  # answer() reports everything; this is the last guard for the worker itself
                    log.exception("follow-up failed")

    async def drain(self, seconds: float) -> list[Cut]:
        """The bot is stopping: take no new work, give the work acknowledged (here and in Bolt's listeners, which
        share `in_flight`) up to `seconds` to finish and answer, then cut short what is left and close.

        Answers queued and not started yet are run within those seconds, as workers come free: each was
        acknowledged, so the person saw Slack take the command and waits for its answer, and a queue only forms in
        a burst, when the workers are busy with work that ends in a few seconds (the store, Slack, PagerDuty's
        10-second timeout). Dropped, they would be lost without a word. Background work not started is dropped at
        once, with its count logged: nobody waits for it, and an App Home is gathered again the next time it is
        opened, so the budget goes to the people waiting. Returns what was cut short (`InFlight.drain`)."""
        self.in_flight.stop_taking()
        if dropped := self._drop(self._background):
            log.info("stopping: %d piece(s) of background work never started, dropped (nobody waits for them; an "
                     "App Home is published again when next opened)", dropped)
        cut = await self.in_flight.drain(seconds)
        await self.close()
        return cut

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for queue in (self._answers, self._background):
            self._drop(queue)

    def _drop(self, queue: asyncio.Queue[_Job]) -> int:
        """Empty `queue` of work never started: nothing was made, so nothing is left unawaited."""
        dropped = 0
        while not queue.empty():
            _, entry = queue.get_nowait()
            self.in_flight.dropped(entry)
            dropped += 1
        return dropped
