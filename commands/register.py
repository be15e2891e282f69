"""Registration of the `/incident` command and the card's buttons on a Bolt AsyncApp."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay

from bot.cards import CARD_ACTIONS
from commands.table import BY_NAME, SLASH_COMMAND, usage_text

log = logging.getLogger(__name__)

NOT_YET = ("`{what}` is not available from Slack yet — it is the next thing we are building. "
           "Until then, please do it in PagerDuty; this channel will follow what you do there.")


def parse_subcommand(text: str) -> tuple[str, str]:
    """`"resolve  fixed the DB"` → `("resolve", "fixed the DB")`; empty text means help."""
    head, _, rest = text.strip().partition(" ")
    return (head.lower() or "help"), rest.strip()


def answer_for(text: str) -> str:
    name, _ = parse_subcommand(text)
    sub = BY_NAME.get(name)
    if sub is None:
        return f"I don't know `{SLASH_COMMAND} {name}`.\n{usage_text()}"
    if sub.name == "help":
        return usage_text()
    return NOT_YET.format(what=f"{SLASH_COMMAND} {sub.name}")


def register(app: AsyncApp) -> None:
    async def incident_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        # Everything this answers is immediate, so it goes in the ack itself (within Slack's 3 seconds).
        await ack(response_type="ephemeral", text=answer_for(str(command.get("text") or "")))

    async def card_button(ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any]) -> None:
        await ack()
        label = str(action.get("action_id", "")).removeprefix("incident_").replace("_", " ")
        await respond(response_type="ephemeral", replace_original=False,
                      text=NOT_YET.format(what=f"{label} button"))

    async def mentioned(ack: AsyncAck, event: dict[str, Any], say: AsyncSay) -> None:
        await ack()
        await say(text=usage_text(), thread_ts=event.get("thread_ts") or event.get("ts"))

    app.command(SLASH_COMMAND)(incident_command)
    app.event("app_mention")(mentioned)
    for action_id in CARD_ACTIONS:
        app.action(action_id)(card_button)
