"""The Bolt listeners: `/incident`, the card's buttons, the forms' submissions, `@mentions`, reactions, the App Home
tab being opened, people changing an incident's channel (the bot invited back, its card unpinned, the channel
renamed), and Slack saying the bot's token is revoked or the app uninstalled, on an AsyncApp.

Every listener acknowledges first (Slack's 3 seconds), then does the slow part through commands/table.py's
handlers and answers through commands/answers.py. A form's submission is checked before its answer (a refusal is
shown in the form) for at most commands/form_checks.py's budget, and finished after the ack when it takes longer.
Each listener says, from its first step to its last, that its work is under way (commands/in_flight.py), and so does
every request while Bolt hands it to its listener (`DrainingApp`, the app these are registered on): a stopping bot
refuses new requests at that door and gives the work already acknowledged time to finish and answer. An Events API
event is claimed in the store before its ack and marked handled only once its listener's work is done
(`_claim_event`, `_event`): Slack's retry of one handled is ignored, of one whose work failed or was cut short acted on.
The exception to "ack first" is an event the bot must not lose, which Slack resends only while unacknowledged: a
reaction (its 📌 mark) and what people do to an incident's channel (renamed, its card unpinned, the bot invited back)
are recorded in the store before the ack, idempotently and with no claim (`_recorded_before_ack`), so a store failing
then answers 500 and Slack sends the event again, rather than it being lost after a 200. Only the store is asked
then: what Slack must be asked (the marked message, the channel's name, whether the bot is back) is an outbox effect,
retried however long Slack fails (bot/services/contributions.py, bot/services/channel_events.py).
Services come in explicitly: `register(app, actions, slack, dedup, clock, ...)`; Bolt injects only what its listener
signatures name (ack, command, body, action, view, event).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.adapters.slack.requests import SENT_AGAIN
from bot.domain.slack_text import readable
from bot.ports import Clock, Deduplication, Interactions
from bot.render.card import CARD_ACTIONS
from bot.services.actions import IncidentActions
from bot.services.channel_events import ChannelEvents
from bot.services.contributions import Contributions
from bot.services.handovers import Handovers
from bot.services.home import AppHome
from bot.services.reports.incident_reports import IncidentReports
from bot.services.reviews import Reviews
from bot.services.toolkit import IncidentToolkit
from commands import toolkit as toolkit_listeners
from commands.answers import COMMAND_GONE, FollowUps, answer, privately_in, texts_of, through_response_url
from commands.form_checks import check_then_act
from commands.handlers import Asked, Pressed, Services, card_button
from commands.in_flight import DrainingApp, InFlight, Work, channel_of, user_of
from commands.modals import PROMPTS, act_on, form_errors, read_submission
from commands.parsing import incident_named, shown, split_subcommand
from commands.repeats import Repeats
from commands.table import BY_NAME, SLASH_COMMAND, run, usage_text

Listener = Callable[..., Awaitable[None]]
# Told the event (`tokens_revoked`, `app_uninstalled`) and the bot users whose tokens Slack says it revoked.
Revoked = Callable[[str, list[str]], None]
log = logging.getLogger(__name__)


def register(app: DrainingApp, actions: IncidentActions, slack: Interactions, dedup: Deduplication, clock: Clock, *,
             handovers: Handovers | None = None, reports: IncidentReports | None = None,
             contributions: Contributions | None = None, reviews: Reviews | None = None,
             toolkit: IncidentToolkit | None = None, home: AppHome | None = None,
             revoked: Revoked | None = None, channels: ChannelEvents | None = None) -> FollowUps:
    """Register every listener; returns the follow-up workers, for the caller to close at shutdown. `revoked` is told
    of Slack's `tokens_revoked` and `app_uninstalled` events (bot/adapters/slack/identity.py's `revoked`)."""
    services = Services(actions, slack, Repeats(dedup, clock), handovers, reports, contributions=contributions,
                        reviews=reviews, toolkit=toolkit, home=home, channels=channels)
    # The app's own door (DrainingApp.async_dispatch) refuses a request while the bot stops, before any of this.
    follow_ups = FollowUps(in_flight=app.in_flight)
    in_flight = follow_ups.in_flight
    app.middleware(_claim_event(services.repeats))
    app.command(SLASH_COMMAND)(_slash_command(services, follow_ups))
    clicked, submitted = _card_button(services, in_flight), _form_submitted(services, in_flight)
    for action_id in CARD_ACTIONS:
        app.action(action_id)(clicked)
    for prompt in PROMPTS:
        app.view(prompt.form_id)(submitted)
    app.event("app_mention")(_mentioned(services, in_flight))
    app.event("reaction_added", middleware=[_recorded_before_ack("a reaction", services, _record_reaction,
                                                                 lost=REACTION_LOST)])(_acked)
    toolkit_listeners.register(app, services, in_flight)
    app.event("app_home_opened")(_home_opened(services, follow_ups))
    # What people do to a channel (bot/services/channel_events.py says what each one does).
    app.event("member_joined_channel", middleware=[_recorded_before_ack("a join", services, _member_joined,
                                                                        lost=JOIN_LOST)])(_acked)
    app.event("pin_removed", middleware=[_recorded_before_ack("an unpin", services, _pin_removed,
                                                              lost=UNPIN_LOST)])(_acked)
    renamed = _recorded_before_ack("a rename", services, _renamed, lost=RENAME_LOST)
    app.event("channel_rename", middleware=[renamed])(_acked)
    # The same, for a channel a workspace admin made private (its id and the bot's membership kept).
    app.event("group_rename", middleware=[renamed])(_acked)
    app.event("tokens_revoked")(_token_revoked(revoked))
    app.event("app_uninstalled")(_token_revoked(revoked))
    # Last, so that it only takes what no listener above does: a button of a card an older version drew.
    app.action(re.compile(".*"))(_unknown_button(services, in_flight))
    return follow_ups


# The answer to a button no listener knows (an older version's card, since changed).
UNKNOWN_BUTTON = ("That button is from an older version of this message and does nothing now. The card is redrawn "
                  "at its next change; meanwhile use `/incident help` for what you can do.")


def _unknown_button(services: Services, in_flight: InFlight) -> Listener:
    async def unknown_button_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        # Acknowledged, as every click must be: unanswered, Slack shows the person an error on the button (Bolt's
        # 404 for a request no listener takes), with no word of why.
        with in_flight.under_way(Work(f"unknown button {action.get('action_id')}", user_of(body), "",
                                      channel_of(body))):
            await ack()
            log.info("a button no listener knows was clicked (%r): answered that it does nothing now",
                     str(action.get("action_id") or "")[:100])
            if isinstance(body.get("response_url"), str):
                await answer(through_response_url(services.slack, body["response_url"]), _unknown())
    return unknown_button_clicked


async def _unknown() -> str:
    return UNKNOWN_BUTTON


# A Home cut short by a stop is published again the next time its person opens it.
HOME_CUT_SHORT = "it is published again the next time its person opens it"
# What an event cut short by a stop leaves (commands/in_flight.py logs it): nobody waits for a word.
EVENT_CUT_SHORT = "it is not taken as handled: Slack's retry of it, if Slack sends one, is acted on"
# Where the once-per-event middleware leaves an event's claim for its listener (`_event`).
CLAIM = "paved_road_event_claim"


# Events recorded before their ack, by a record that is the same however often it is made (a reaction's is keyed by
# its message; a channel's change queues an effect that reads the channel as Slack has it, and finds nothing to do
# once one has): they take no claim (`_recorded_before_ack`).
RECORDED_BEFORE_ACK = frozenset({"reaction_added", "member_joined_channel", "pin_removed", "channel_rename",
                                 "group_rename"})


def _claim_event(repeats: Repeats) -> Callable[..., Awaitable[BoltResponse]]:
    async def claim_event(req: AsyncBoltRequest, resp: BoltResponse,
                          next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        # Slack retries an event it thinks we missed (X-Slack-Retry-Num). One any replica handled, or is handling,
        # must not act twice; one whose first delivery never reached us, or whose work failed or was cut short,
        # must still be handled. Claimed before the ack: a store failing here answers 500, and Slack sends it again.
        body = req.body if isinstance(req.body, dict) else {}
        event = body.get("event")
        event_id = str(body.get("event_id") or "")
        if event_id and not (isinstance(event, dict) and event.get("type") in RECORDED_BEFORE_ACK):
            claim = await repeats.claim_event(event_id)
            if claim is None:
                return BoltResponse(status=200, body="")
            req.context[CLAIM] = claim
        return await next()
    return claim_event


def _slash_command(services: Services, follow_ups: FollowUps) -> Listener:
    async def slash_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        name, rest = split_subcommand(str(command.get("text") or ""))
        entry, asked = BY_NAME.get(name), Asked.from_command(command, rest)
        if entry is None:
            # What was typed is shown back as every typed word is: readable, escaped, short.
            await ack(response_type="ephemeral",
                      text=f"I don't know `{SLASH_COMMAND} {shown(name)}`.\n{usage_text()}")
            return
        what = Work(f"{SLASH_COMMAND} {entry.name}", asked.user, incident_named(rest),
                    f"#{asked.channel_name}" if asked.channel_name else asked.channel)
        with follow_ups.in_flight.under_way(what):
            if entry.answered_in_ack:
                await ack(response_type="ephemeral", text="\n".join(texts_of(await entry.handler(services, asked))))
                return
            await ack()
            def work() -> Awaitable[None]:
                # Words someone wrote (a note, a resolution, an update) are quoted back should the command fail.
                return answer(through_response_url(services.slack, str(command["response_url"])),
                              run(entry, services, asked), keeping=readable(rest) if entry.keeps_text else "",
                              gone=COMMAND_GONE)
            if entry.may_open_modal:  # a form's trigger expires 3 s after the command: not queued behind others
                await work()
            else:
                follow_ups.follow_up(work, what)
    return slash_command


def _card_button(services: Services, in_flight: InFlight) -> Listener:
    async def card_button_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        # Acknowledged before the click is read: a click missing a field fails after the ack (logged), not as a 500.
        with in_flight.under_way(Work(f"card button {action.get('action_id')}", user_of(body),
                                      str(action.get("value") or ""), channel_of(body))):
            await ack()
            pressed = Pressed(user=str(body["user"]["id"]), channel=channel_of(body),
                              action_id=str(action["action_id"]), incident_id=str(action.get("value") or ""),
                              trigger_id=str(body["trigger_id"]))
            await answer(through_response_url(services.slack, str(body["response_url"])),
                         card_button(services, pressed))
    return card_button_clicked


def _form_submitted(services: Services, in_flight: InFlight) -> Listener:
    async def form_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        # Answered within Slack's deadline however slow PagerDuty or Slack is: a late refusal comes privately.
        submission = read_submission(body, view)
        with in_flight.under_way(Work(f"form {submission.prompt.form_id}", submission.user, submission.incident_id,
                                      submission.channel)):
            await check_then_act(ack, form_errors(submission, services.actions),
                                 lambda: act_on(submission, services.actions, services.slack, services.repeats),
                                 privately_in(services.slack, submission.channel, submission.user), submission.text)
    return form_submitted


def _event(services: Services, in_flight: InFlight, kind: str,
           work: Callable[[dict[str, Any]], Awaitable[None]]) -> Listener:
    """An Events API listener: `work(event)` done once per event across replicas, however often Slack sends it. The
    event was claimed before its ack (`_claim_event`); done, it is marked so; failing or cut short by a stop, its
    claim is freed, and Slack's retry of it is acted on (commands/repeats.py `event_done`)."""
    async def listener(ack: AsyncAck, event: dict[str, Any], context: AsyncBoltContext) -> None:
        with in_flight.under_way(Work(kind, str(event.get("user") or ""), channel=_channel_of(event),
                                      cut_short=EVENT_CUT_SHORT)):
            await ack()
            await services.repeats.event_done(lambda: work(event), context.get(CLAIM))
    return listener


def _channel_of(event: dict[str, Any]) -> str:
    """The channel an event happened in, for the log."""
    item, channel = event.get("item"), event.get("channel") or event.get("channel_id")  # (a pin's: channel_id)
    if isinstance(channel, dict):  # a rename's: the channel itself
        channel = channel.get("id")
    return str(channel or (item.get("channel") if isinstance(item, dict) else "") or "")


def _mentioned(services: Services, in_flight: InFlight) -> Listener:
    async def mentioned(event: dict[str, Any]) -> None:
        await services.slack.post_message(str(event["channel"]), usage_text(),
                                          thread_ts=event.get("thread_ts") or event.get("ts"))
    return _event(services, in_flight, "@mention", mentioned)


# Records an event before its ack: told the services, the event, and the bot's user as Bolt knows it (None: not
# known yet).
Record = Callable[[Services, dict[str, Any], str | None], Awaitable[None]]


# Slack retries an event's delivery three times (at once, after a minute, after five), numbering each retry
# (X-Slack-Retry-Num; over Socket Mode the envelope's retry_attempt, which Bolt gives as the same header): one refused
# on the last is lost. What each event recorded before its ack leaves undone then, and what the operator can do.
LAST_RETRY = 3
RENAME_LOST = ("where the bot names the channel by name (the ServiceNow ticket's `Slack: #…` line and close notes "
               "when ServiceNow's sync is on, the review's draft) it may keep an earlier name: once the store "
               "answers, rename the channel again (the bot then asks Slack its name), or correct the ticket by hand")
UNPIN_LOST = ("if it was an incident's card, the bot takes it for pinned still and will not pin it again: pin it by "
              "hand")
JOIN_LOST = ("if it was the bot invited back into an incident's channel, it still takes itself for removed there: it "
             "sets the channel's topic again only at the incident's next change its topic shows (status, priority, "
             "ticket); set the topic by hand if it matters")
REACTION_LOST = ("if it marked a message for an incident's timeline, the message is not on the timeline nor the "
                 "ticket: once the store answers, take the reaction off and put it back, or add the message with "
                 "`/incident note`")


def _retry_num(req: AsyncBoltRequest) -> int:
    """Slack's retry number of this delivery (0: its first)."""
    said = (req.headers.get("x-slack-retry-num") or [""])[0]
    return int(said) if str(said).isdigit() else 0


def _recorded_before_ack(what: str, services: Services, record: Record, *,
                         lost: str) -> Callable[..., Awaitable[BoltResponse | None]]:
    """A listener middleware: the event (`what` it is, for the log) is recorded in the store *before* its ack, as a
    PagerDuty webhook is stored before its answer; only the store is asked (what Slack must say is read later,
    through the outbox, retried). The store refusing it answers 500, not the ack: Slack sends the event again (over
    HTTP, and over Socket Mode, where the envelope goes unacknowledged). Acked first, it would be lost, since Slack
    retries only a delivery that was not acknowledged.

    These events take no once-per-event claim (`RECORDED_BEFORE_ACK`): every delivery of one, retries included,
    records it, and recording it twice comes to recording it once. A claim would let a retry be answered as a repeat
    while an earlier delivery's record was still on its way — slow, then refused, or on a replica that died — and
    Slack, answered 200, would send it no more.

    Refused on Slack's last retry (`LAST_RETRY`), the event is lost: an ERROR says so, where, and what the operator
    can do (`lost`), rather than the WARNING of every earlier refusal, which Slack mends by itself."""
    async def record_then_ack(req: AsyncBoltRequest, event: dict[str, Any], context: AsyncBoltContext,
                              next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        try:
            await record(services, event, context.bot_user_id)
        except Exception as error:
            retry = _retry_num(req)
            if retry >= LAST_RETRY:
                log.error("%s in channel %s could not be recorded (%s) on Slack's last retry of it: answered 500, "
                          "but Slack sends it no more, so it is lost. Check the store (/readyz, the log's errors "
                          "before this one); %s", what, _channel_of(event) or "(none named)",
                          error.__class__.__name__, lost, exc_info=True)
            else:
                log.warning("%s could not be recorded (%s); answered 500, so Slack sends it again (Slack's retry "
                            "%d of %d next)", what, error.__class__.__name__, retry + 1, LAST_RETRY, exc_info=True)
            return BoltResponse(status=500, body="", headers={SENT_AGAIN: "1"})
        await next()
        return None
    return record_then_ack


async def _record_reaction(services: Services, event: dict[str, Any], bot_user: str | None) -> None:
    item = event.get("item")
    if services.contributions is None or not isinstance(item, dict) or item.get("type") != "message":
        return
    await services.contributions.reaction_added(
        user=str(event.get("user") or ""), reaction=str(event.get("reaction") or ""),
        channel=str(item.get("channel") or ""), ts=str(item.get("ts") or ""))


async def _acked(ack: AsyncAck) -> None:
    """Only the ack: the event was recorded before it (`_recorded_before_ack`), and nothing follows."""
    await ack()


def _home_opened(services: Services, follow_ups: FollowUps) -> Listener:
    async def home_opened(event: dict[str, Any]) -> None:
        home, user = services.home, str(event.get("user") or "")
        # Slack sends app_home_opened for the Messages tab too; only the Home tab is ours to publish.
        if home is None or event.get("tab", "home") != "home" or not isinstance(event.get("user"), str):
            return
        # Gathering the Home asks PagerDuty and the store: done after the ack, in the follow-up workers'
        # background lane (which logs a failure; nobody waits for an answer, and commands' answers never wait
        # behind it).
        # `opened`: Slack not saying who they are still publishes a Home (a refresh would leave theirs); what PagerDuty
        # failed to answer this minute is not asked again before the minute is over (bot/services/home_answers.py).
        follow_ups.in_background(lambda: home.publish(user, opened=True),
                                 Work("App Home", user, cut_short=HOME_CUT_SHORT))
    return _event(services, follow_ups.in_flight, "App Home opened", home_opened)


async def _member_joined(services: Services, event: dict[str, Any], bot_user: str | None) -> None:
    if services.channels is not None:
        await services.channels.member_joined(user=str(event.get("user") or ""),
                                              channel=str(event.get("channel") or ""), bot_user=bot_user)


async def _pin_removed(services: Services, event: dict[str, Any], bot_user: str | None) -> None:
    item = event.get("item")
    message = item.get("message") if isinstance(item, dict) else None
    if services.channels is not None and isinstance(item, dict) and item.get("type") == "message" \
            and isinstance(message, dict):
        await services.channels.pin_removed(user=str(event.get("user") or ""), ts=str(message.get("ts") or ""),
                                            channel=str(event.get("channel_id") or item.get("channel") or ""),
                                            bot_user=bot_user)


async def _renamed(services: Services, event: dict[str, Any], bot_user: str | None) -> None:
    channel = event.get("channel")
    if services.channels is not None and isinstance(channel, dict):
        await services.channels.renamed(channel=str(channel.get("id") or ""))


def _token_revoked(revoked: Revoked | None) -> Listener:
    async def token_revoked(ack: AsyncAck, event: dict[str, Any]) -> None:
        # Nothing to do but say it (the identity's log line, /readyz, the gauge): the operators must learn it at once.
        await ack()
        tokens = event.get("tokens")
        bots = tokens.get("bot") if isinstance(tokens, dict) else None
        if revoked is not None:
            revoked(str(event.get("type") or ""), [str(u) for u in bots] if isinstance(bots, list) else [])
    return token_revoked
