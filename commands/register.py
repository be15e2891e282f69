"""The `/incident` command, the card's buttons, the modals and `@mentions`, registered on a Bolt AsyncApp.

Every listener acknowledges first (Slack's 3 seconds), then does the slow part and answers through `respond` or an
ephemeral message. A `UserError` is shown as written; anything else gets "something went wrong — reference <id>"
with the traceback logged under that id. Services come in explicitly (`register(app, actions)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.errors import UserError
from bot.render import replies as render
from bot.render.card import ACKNOWLEDGE, PAGE_INCIDENT_MANAGER, RESOLVE
from bot.services.actions import IncidentActions, Outcome
from bot.services.handovers import Handovers
from bot.services.reports.incident_reports import IncidentReports
from commands.parsing import parse_declare, plain_text, split_subcommand, split_target, take_ref
from commands.table import BY_NAME, SLASH_COMMAND, usage_text

log = logging.getLogger(__name__)
DOUBLE_CLICK_SECONDS = 5.0
Say = Callable[[str], Awaitable[None]]


class DoubleClicks:
    """The same person clicking the same button on the same incident within a few seconds meant it once."""

    def __init__(self, window: float = DOUBLE_CLICK_SECONDS) -> None:
        self._window = window
        self._seen: dict[tuple[str, str, str], float] = {}

    def first(self, user: str, action: str, incident: str) -> bool:
        now = time.monotonic()
        self._seen = {k: t for k, t in self._seen.items() if now - t < self._window}
        key = (user, action, incident)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


async def answer(say: Say, work: Awaitable[Outcome | str | list[str]]) -> None:
    """Run the work and tell the person how it went, in words they can act on."""
    try:
        result = await work
    except UserError as error:
        texts = [f"⚠️ {error}"]
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("command failed (reference %s)", reference)
        texts = [f"Something went wrong on our side — reference `{reference}`. Check PagerDuty for what changed, "
                 "and give this reference to the platform team."]
    else:
        texts = result if isinstance(result, list) else [result.text if isinstance(result, Outcome) else result]
    for text in texts:
        try:
            await say(text)
        except Exception:  # the answer itself could not be delivered: keep it in the logs, findable
            reference = uuid.uuid4().hex[:8]
            log.exception("could not deliver an answer to Slack (reference %s)", reference)
            return


class ResponseUrls:
    """The work after each ack, and the answers through the interaction's response_url.

    Follow-up work runs on a few worker tasks rather than one task per click: in a burst (an outage, thirty people
    typing `/incident status`) the acknowledgements keep Slack's 3-second promise while the answers queue briefly.
    Answers share one HTTP session (Bolt's `respond` opens a new session, and connection, for every answer)."""

    def __init__(self, workers: int = 4) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._queue: asyncio.Queue[Awaitable[None]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._worker_count = workers

    def follow_up(self, work: Awaitable[None]) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self._worker_count)]
        self._queue.put_nowait(work)

    async def _work(self) -> None:
        while True:
            work = await self._queue.get()
            try:
                await work
            except Exception:  # answer() reports everything; this is the last guard for the worker itself
                log.exception("follow-up failed")

    def sayer(self, response_url: str) -> Say:
        async def say(text: str) -> None:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            webhook = AsyncWebhookClient(response_url, session=self._session)
            await webhook.send(text=text, response_type="ephemeral", replace_original=False)
        return say

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self._queue.empty():  # never started: close the coroutines rather than leak them
            work = self._queue.get_nowait()
            if isinstance(work, Coroutine):
                work.close()
        if self._session is not None:
            await self._session.close()


def register(app: AsyncApp, actions: IncidentActions, responses: ResponseUrls | None = None, *,
             handovers: Handovers | None = None, reports: IncidentReports | None = None) -> ResponseUrls:
    """Register every listener; returns the shared response_url sender, for the caller to close at shutdown."""
    clicks = DoubleClicks()
    responses = responses or ResponseUrls()

    seen_events: dict[str, float] = {}

    @app.middleware
    async def ignore_slack_retries(req: AsyncBoltRequest, resp: BoltResponse,
                                   next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        # Slack retries an event it thinks we missed. One we already handled must not act twice; one we never
        # received (the first delivery failed) must still be handled.
        event_id = str(req.body.get("event_id") or "") if isinstance(req.body, dict) else ""
        if event_id:
            now = time.monotonic()
            for old in [k for k, t in seen_events.items() if now - t > 3600]:
                del seen_events[old]
            if event_id in seen_events:
                return BoltResponse(status=200, body="")
            seen_events[event_id] = now
        return await next()

    async def incident_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        name, rest = split_subcommand(str(command.get("text") or ""))
        if name not in BY_NAME or name == "help":
            await ack(response_type="ephemeral", text=usage_text() if name == "help" else
                      f"I don't know `{SLASH_COMMAND} {name}`.\n{usage_text()}")
            return
        await ack()
        say = responses.sayer(str(command["response_url"]))
        if name in ("page-im", "page", "resolve", "new") and rest and not clicks.first(
                str(command["user_id"]), f"{name} {rest}", str(command["channel_id"])):
            await say("Already on it — you sent the same command a moment ago, and it is being handled.")
            return
        if name in ("resolve", "page-im"):
            await answer(say, run(name, rest, command, client))  # may open a modal: its trigger expires in 3 s
        else:
            responses.follow_up(answer(say, run(name, rest, command, client)))

    async def run(name: str, rest: str, command: dict[str, Any], client: AsyncWebClient) -> Outcome | str | list[str]:
        user, channel = str(command["user_id"]), str(command["channel_id"])
        in_channel = await actions.in_incident_channel(channel)
        if name == "new":
            title, service, urgency = parse_declare(plain_text(rest))
            return await actions.declare(user, title, service, urgency, channel)
        if name == "service":
            return await actions.service_coverage(rest, channel)
        if name == "report":
            if reports is None:
                raise UserError("Reports are not set up on this bot.")
            return await post_report(client, reports, rest, user, channel)
        if name in ("handover", "handover-note"):
            if handovers is None:
                raise UserError("Handovers are not available in this deployment.")
            return await handover_command(handovers, name, rest, command)
        if name == "oncall":
            what = rest or "this incident's service"
            rota = handovers.find_rota(rest) if handovers is not None and rest else None
            if rota is None or handovers is None:
                return render.oncall_text(what, await actions.oncall(rest, channel))
            # A rota (who now, who next); when a team shares its name, its escalation policy's levels too.
            answers = [await handovers.on_call_now(rota.id)]
            with contextlib.suppress(UserError):  # not a team or service too: the rota's answer is the answer
                answers.append(render.oncall_text(what, await actions.oncall(rest, channel)))
            return answers
        text_follows = name in ("resolve", "note", "page-im", "page")
        ref, text = take_ref(rest, in_channel, text_follows=text_follows)
        incident = await actions.incident(channel, ref)
        if name == "ack":
            return await actions.acknowledge(user, incident)
        if name == "resolve":
            if not text:
                await open_modal(client, str(command["trigger_id"]), render.resolve_modal(incident, channel))
                return []
            return await actions.resolve(user, incident, plain_text(text))
        if name == "page-im":
            if not text:
                await open_modal(client, str(command["trigger_id"]), render.page_im_modal(incident, channel))
                return []
            return await actions.page_incident_manager(user, incident, plain_text(text))
        if name == "page":
            target, message = split_target(text)
            if not target:
                raise UserError("Who should I page? `/incident page <team|escalation policy|@someone> [message]`.")
            return await actions.page(user, incident, target, plain_text(message))
        if name == "note":
            return await actions.add_note(user, incident, plain_text(text))
        timeline, dead = await actions.report(incident.id)
        if name == "status":
            return render.status_text(incident, timeline, dead, actions.now())
        return render.timeline_pages(incident, timeline)

    async def card_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                          client: AsyncWebClient) -> None:
        await ack()
        user, channel = str(body["user"]["id"]), str((body.get("channel") or {}).get("id") or "")
        action_id, incident_id = str(action["action_id"]), str(action.get("value") or "")

        say = responses.sayer(str(body["response_url"]))

        async def work() -> Outcome | list[str]:
            incident = await actions.incident(channel, incident_id or None)
            if action_id == RESOLVE:
                await open_modal(client, str(body["trigger_id"]), render.resolve_modal(incident, channel))
                return []
            if action_id == PAGE_INCIDENT_MANAGER:
                await open_modal(client, str(body["trigger_id"]), render.page_im_modal(incident, channel))
                return []
            if not clicks.first(user, action_id, incident.id):
                return Outcome("Already on it — your first click is being handled.")
            return await actions.acknowledge(user, incident)
        await answer(say, work())

    async def modal_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                              client: AsyncWebClient) -> None:
        field = "resolution" if view["callback_id"] == render.RESOLVE_MODAL else "message"
        text = str(((view["state"]["values"].get(field) or {}).get("text") or {}).get("value") or "").strip()
        if not text:
            await ack(response_action="errors", errors={field: "Please write something here."})
            return
        meta = json.loads(view.get("private_metadata") or "{}")
        user, channel = str(body["user"]["id"]), str(meta.get("channel_id") or "")
        try:
            # Refusals that are about the person are shown in the form, so what they typed is not lost.
            await actions.check_may_act(user, str(meta.get("incident_id") or ""), resolving=field == "resolution")
        except UserError as error:
            await ack(response_action="errors", errors={field: str(error)[:2000]})
            return
        if not clicks.first(user, f"{view['callback_id']} {text}", str(meta.get("incident_id"))):
            await ack()
            return
        await ack()

        async def say(message: str) -> None:
            try:
                await client.chat_postEphemeral(channel=channel, user=user, text=message)
            except SlackApiError:  # not in that channel any more: tell them directly
                await client.chat_postMessage(channel=user, text=message)

        async def work() -> Outcome:
            incident = await actions.incident(channel, str(meta.get("incident_id") or "") or None)
            if field == "resolution":
                return await actions.resolve(user, incident, text)
            return await actions.page_incident_manager(user, incident, text)
        await answer(say, work())

    async def mentioned(ack: AsyncAck, event: dict[str, Any], say: AsyncSay) -> None:
        await ack()
        await say(text=usage_text(), thread_ts=event.get("thread_ts") or event.get("ts"))

    app.command(SLASH_COMMAND)(incident_command)
    for action_id in (ACKNOWLEDGE, RESOLVE, PAGE_INCIDENT_MANAGER):
        app.action(action_id)(card_button)
    app.view(render.RESOLVE_MODAL)(modal_submitted)
    app.view(render.PAGE_IM_MODAL)(modal_submitted)
    app.event("app_mention")(mentioned)
    return responses


async def post_report(client: AsyncWebClient, reports: IncidentReports, text: str, user: str, channel: str) -> str:
    """`/incident report`: the table and the chart, posted in the channel for everyone there (a report is for
    sharing); the person who asked is told where it went."""
    request = reports.request(text)
    rendered = await reports.render(request)
    comment = f"*{rendered.title}* — asked by <@{user}>\n```\n{rendered.table}```"
    try:
        await client.files_upload_v2(channel=channel, content=rendered.png, filename="incident-report.png",
                                     title=rendered.title, initial_comment=comment,
                                     alt_txt="MTTA and MTTR by month; revenue protection effectiveness by team")
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        if code in ("not_in_channel", "channel_not_found"):
            raise UserError("I can't post in this channel: invite me (`/invite @pavedroad`) or run the report in a "
                            f"channel I'm in. The figures:\n```\n{rendered.table}```") from None
        raise
    return f"Posted the report ({rendered.incidents} incidents) in this channel."


async def handover_command(handovers: Handovers, name: str, rest: str, command: dict[str, Any]) -> str:
    """`/incident handover [rota] [post]` and `/incident handover-note [rota] <text>`. In a rota's channel the rota
    is implied; elsewhere the first word names it."""
    channel_name = str(command.get("channel_name") or "")
    if name == "handover":
        words = rest.split()
        post = bool(words) and words[-1].lower() in ("post", "--post")
        rota = handovers.rota_for(" ".join(words[:-1] if post else words), channel_name)
        return await handovers.post_so_far(rota.id) if post else await handovers.so_far(rota.id)
    first, _, after = rest.partition(" ")
    named = handovers.find_rota(first) if first else None
    here = handovers.rotas_of_channel(channel_name)
    if named is not None and named not in here:
        rota, text = named, after  # another rota's note, left from here
    else:
        rota, text = handovers.rota_for("", channel_name, usage="handover-note"), rest
    author = str(command.get("user_name") or command.get("user_id") or "someone")
    return await handovers.leave_note(rota.id, author, plain_text(text))


async def open_modal(client: AsyncWebClient, trigger_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        if code in ("expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"):
            raise UserError("The form took too long to open (Slack allows 3 seconds). Please run the command or "
                            "click the button again.") from None
        raise
