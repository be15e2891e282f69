"""A submitted form answered within Slack's deadline, however long the check before acting takes.

Slack waits three seconds for the answer to a view_submission; after that the person sees "We had some trouble
connecting" in the form (at 3 a.m., in an outage) and submits it again. The check that may refuse in the form (who
the person is in PagerDuty: Slack's users.info and PagerDuty's users; the incident-manager rota's on-calls when the
action is kept to responders) asks Slack and PagerDuty, which are slow or rate-limiting us in exactly such an outage.
It gets FORM_CHECK_SECONDS. Done by then, it is answered as ever: a refusal in the form, else the form closes and the
action follows. Not done, the form is closed at once, the check finished after, and the action follows it; a late
refusal (or the action failing) is told privately, as every answer after a form is, with what the person typed
quoted back so that none of it is lost (`answer(..., keeping=...)`).

The late part runs in the listener after its ack, as every listener's work after the ack does (Bolt runs it on the
listener's own task): the check's task is held and awaited there, so it is neither dropped half-done nor left with an
exception nobody reads (its failure is told to the person through `answer`), and it is cancelled with the listener.
A stopping bot gives that listener time to finish before it cuts it short (commands/in_flight.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncAck

from bot.errors import UserError
from commands.answers import Reply, Say, answer

log = logging.getLogger(__name__)
# Slack's three seconds run until our HTTP answer reaches it: the check gets two, and the rest is left for the answer's
# way back (Bolt notices an ack every 10 ms; a loaded event loop, the network, a load balancer).
FORM_CHECK_SECONDS = 2.0
UNDER_WAY = ("⏳ Slack or PagerDuty is slow to answer right now: your form was received and is being handled. Its "
             "answer follows here; no need to send it again.")
# What a form's check says: {input block: why}, shown under that input; nothing to say, {}.
Errors = dict[str, str]


async def check_then_act(ack: AsyncAck, check: Awaitable[Errors], act: Callable[[], Awaitable[Reply]], say: Say,
                         typed: str) -> None:
    """Answer Slack with `check`'s refusal in the form, or close the form and `act` (told through `say`); a check
    not done within FORM_CHECK_SECONDS is finished after the form has closed. `typed`: what the person wrote, quoted
    back with any failure told after the form closed."""
    checking = asyncio.ensure_future(check)
    if not await _done_within(checking, FORM_CHECK_SECONDS):
        log.info("a form's check took over %gs (Slack or PagerDuty slow): the form is closed, the check goes on",
                 FORM_CHECK_SECONDS)
        await ack()  # the form closes now; the check goes on, and the action after it
        await _tell_it_is_under_way(say)
        await answer(say, _act_once_checked(checking, act), keeping=typed)
        return
    errors = checking.result()  # a check that failed outright fails the request, as it did before the budget
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    await answer(say, act(), keeping=typed)


async def _tell_it_is_under_way(say: Say) -> None:
    """The form closed without its answer, which may take a while yet: said at once, so that the person does not
    send it again (a second form with other words is not a repeat the guard would catch). Best effort: the answer
    itself still follows if this cannot be said."""
    try:
        await say(UNDER_WAY)
    except Exception:
        log.warning("could not tell a person their slow form is under way", exc_info=True)


async def _done_within(task: asyncio.Future[Errors], seconds: float) -> bool:
    """Whether `task` is done within `seconds`; it goes on either way, unless this wait is cancelled (the bot
    stopping), which cancels it too."""
    try:
        await asyncio.wait({task}, timeout=seconds)
    except BaseException:
        task.cancel()
        raise
    return task.done()


async def _act_once_checked(checking: asyncio.Future[Errors], act: Callable[[], Awaitable[Reply]]) -> Reply:
    errors = await checking
    if errors:  # the form has closed: said privately instead, every reason once
        raise UserError("\n".join(dict.fromkeys(errors.values())))
    return await act()
