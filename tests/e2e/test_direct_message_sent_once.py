"""A direct message the bot sends someone (`TellPerson`: a command a stop cut short, a Take command someone pressed
just before them) whose answer was lost on the way back is not sent twice: the retry opens the app's DM with them
(conversations.open, im:write) and finds its first attempt there by its marker (conversations.history, im:history),
as every other post does. An app installed before those scopes cannot look: it tells them again rather than fail."""

from __future__ import annotations

import html

from bot.domain.effects.slack import TellPerson
from sandbox.faults import Fault
from sandbox.slack.workspace import BOT_SCOPES
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import slack_user, state

ASHA = "asha.patel@example.com"
TOLD = "Ben Okafor took command of #7 just before you, so they lead it and nothing was changed."


def direct_messages(running: RunningSandbox, user: str) -> list[str]:
    """What the app said to `user` in their direct messages with it."""
    slack = state(running)["slack"]
    ims = {c["id"] for c in slack["channels"] if c.get("is_im") and user in c.get("members", [])}
    return [html.unescape(m["text"]) for m in slack["messages"] if m["channel"] in ims]


async def tell_with_its_answer_lost(running: RunningSandbox) -> str:
    asha = slack_user(running, ASHA)
    # Slack posts it, then the answer is lost (a gateway's 502): the outbox retries the effect.
    running.sandbox.faults.add(Fault("slack", "chat.postMessage", status=502, times=1, after=True))
    await running.bot.store.queue_effect(TellPerson(f"person:{asha}", asha, TOLD),
                                         running.bot.clock.now().timestamp(), priority=0)
    await running.bot.settle(30)
    running.sandbox.faults.clear()
    return asha


async def test_a_direct_message_whose_answer_was_lost_is_sent_once(sandbox: RunningSandbox) -> None:
    asha = await tell_with_its_answer_lost(sandbox)
    assert direct_messages(sandbox, asha) == [TOLD]
    assert state(sandbox)["slack"]["calls"].get("chat.postMessage", 0) >= 1
    assert await sandbox.bot.store.dead_effects(f"person:{asha}") == []


async def test_an_app_installed_without_the_im_scopes_still_tells_them(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.slack.bot_scopes = BOT_SCOPES - {"im:write", "im:history"}
    asha = await tell_with_its_answer_lost(sandbox)
    # Slack answers missing_scope to the look: it is sent again (twice, as before those scopes), never lost.
    assert direct_messages(sandbox, asha) == [TOLD, TOLD]
    assert await sandbox.bot.store.dead_effects(f"person:{asha}") == []


async def test_an_app_without_im_write_is_not_refused_conversations_open_at_every_retry(
        sandbox: RunningSandbox) -> None:
    """Slack refuses to open the DM (missing_scope) for the app, not the person: asked again at each retry of each
    message, every one spent a refused call (found in review)."""
    sandbox.sandbox.slack.bot_scopes = BOT_SCOPES - {"im:write", "im:history"}
    await tell_with_its_answer_lost(sandbox)
    await tell_with_its_answer_lost(sandbox)
    assert state(sandbox)["slack"]["calls"].get("conversations.open", 0) == 1


async def test_an_app_without_im_history_is_not_refused_the_dms_history_at_every_retry(
        sandbox: RunningSandbox) -> None:
    """With im:write but not im:history (installed from a manifest between the two), the DM opens but Slack refuses
    to read it (missing_scope), for the app, not the person: each retry of each message spent a refused call."""
    sandbox.sandbox.slack.bot_scopes = BOT_SCOPES - {"im:history"}
    asha = await tell_with_its_answer_lost(sandbox)
    await tell_with_its_answer_lost(sandbox)
    assert state(sandbox)["slack"]["calls"].get("conversations.history", 0) == 1
    assert direct_messages(sandbox, asha) == [TOLD] * 4  # (each told twice, as before im:history: never lost)
