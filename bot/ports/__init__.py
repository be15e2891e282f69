"""Ports: the narrow seams between services and the outside world (typing.Protocol, so fakes need no inheritance).

This module holds the outside systems' ports (Chat, Paging, Tickets, Clock); `bot.ports.store` holds the store's,
one per concern (inbox, outbox, incidents, Slack footprint, tickets, handovers, history, people, de-duplication),
some in modules of their own beside it (its docstring names them).
Adapters implement them (bot/adapters/), the sandbox's emulators stand behind the adapters in tests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.ports.replicas import RateBudget as RateBudget

if TYPE_CHECKING:
    from bot.ports.store import Deduplication as Deduplication


def __getattr__(name: str) -> object:
    """`Deduplication` is the store's port, re-exported here for the commands; loaded when first asked for, so that
    importing one light port (e.g. bot.ports.report_aggregates, for `pavedroad report`) does not load every store
    port and the domain behind them."""
    if name == "Deduplication":
        from bot.ports.store import Deduplication

        return Deduplication
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Slack's answers for a channel the bot cannot post in, which no retry changes. Named, but not found for the bot
# (renamed in Slack while the catalogue keeps the old name, deleted, private without the bot):
CHANNEL_NOT_FOUND = ("channel_not_found", "not_in_channel")
CHANNEL_GONE, BOT_REMOVED = CHANNEL_NOT_FOUND  # deleted (a workspace admin may delete any); the bot removed from it
# Archived (chat.update says is_inactive for a message in an archived channel; posts say is_archived):
CHANNEL_ARCHIVED = ("is_archived", "is_inactive")
CHANNEL_IS_ARCHIVED, MESSAGE_INACTIVE = CHANNEL_ARCHIVED  # a post's (or conversations.archive's) answer; chat.update's
# Either, or the workspace's policy refusing the bot there (posting restricted, Enterprise Key Management, a thread
# that takes no replies, a shared channel's other workspace):
CANNOT_POST_THERE = frozenset(CHANNEL_NOT_FOUND + CHANNEL_ARCHIVED + (
    "restricted_action", "ekm_access_denied", "cannot_reply_to_message", "team_access_not_granted"))
# Creating or archiving a channel refused for good: the workspace lets only some members do it (restricted_action),
# the app was installed without channels:manage (missing_scope), or the bot's user is restricted.
MAY_NOT_MANAGE_CHANNELS = ("restricted_action", "missing_scope", "user_is_restricted", "user_is_ultra_restricted")


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    topic: str
    creator: str | None
    is_archived: bool
    is_member: bool = False  # the bot's own user is in it (as Slack answers the bot)
    previous_names: tuple[str, ...] = ()  # what people renamed it from (Slack keeps them)


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str


@dataclass(frozen=True)
class ChatMessage:
    """A message as Slack keeps it: `by_person` is false for bots, apps and Slack's own (joins, topic changes)."""

    channel: str
    ts: str
    user: str | None
    text: str
    by_person: bool


class Chat(Protocol):
    """Slack, as the services need it."""

    async def bot_user_id(self) -> str: ...
    async def create_channel(self, name: str) -> ChannelInfo: ...
    async def find_channel(self, name: str) -> ChannelInfo | None: ...
    async def channels_formerly_named(self, names: Collection[str]) -> list[ChannelInfo]:
        """The channels the bot can see that were once called one of `names` (renamed since): conversations.list."""
        ...
    async def channel(self, channel_id: str) -> ChannelInfo | None:
        """The channel as Slack has it now (conversations.info): its name, whether the bot is in it; None when Slack
        does not find it."""
        ...
    async def set_topic(self, channel: str, topic: str) -> None: ...
    async def invite(self, channel: str, user_ids: Sequence[str]) -> dict[str, str]:
        """Add people to a channel: those Slack would not add (a deactivated or guest account, an id gone), by user
        id with Slack's reason; everyone else is added all the same. Those already in are neither."""
        ...
    async def post_message(self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None,
                           thread_ts: str | None = None,
                           metadata: dict[str, Any] | None = None) -> PostedMessage: ...
    async def update_message(self, channel: str, ts: str, text: str,
                             blocks: Sequence[dict[str, Any]] | None = None) -> None: ...
    async def pin(self, channel: str, ts: str) -> None: ...
    async def find_posted(self, channel: str, marker: str, oldest: float,
                          thread_ts: str | None = None, key: str = "marker") -> PostedMessage | None:
        """A message this bot posted in `channel` (id or name) since `oldest` whose metadata carries `marker` (under
        `key` in its payload: "marker", or "group" for the first of a thread of alerts) — in the thread under
        `thread_ts` when given (a channel's history never lists a thread's replies). None when there is none, or when
        Slack will not let the bot look (not a member of the channel, the thread gone)."""
        ...
    async def user_id_by_email(self, email: str) -> str | None: ...
    async def user_email(self, user_id: str) -> str | None:
        """The Slack user's email (users.info), or None for users without one (bots, guests without it). May be up to
        a few minutes old: who a user is, is kept a while (bot/adapters/slack/users.py)."""
        ...
    async def user_name(self, user_id: str) -> str | None:
        """The Slack user's name as people know it (users.info: real name, else display name, else handle); None when
        Slack has no such user. May be up to a few minutes old, like `user_email`."""
        ...
    async def message(self, channel: str, ts: str) -> ChatMessage | None:
        """The message `ts` in `channel` (top-level or in a thread); None when it is not there (deleted), or Slack
        will not let the bot read the channel."""
        ...
    async def upload_file(self, channel: str, content: bytes, *, filename: str, title: str, comment: str) -> str:
        """Share a file in `channel` (Slack's external upload) with `comment` as its message; returns its id."""
        ...
    async def find_file(self, channel: str, name_prefix: str, oldest: float) -> PostedMessage | None:
        """The latest message in which this bot shared a file whose name starts with `name_prefix` in `channel`
        since `oldest`, if any."""
        ...
    async def permalink(self, channel: str, ts: str) -> str | None:
        """A link to the message; None when Slack cannot give one."""
        ...
    async def archive(self, channel: str) -> None:
        """Archive the channel (IntegrationError codes already_archived, channel_not_found, not_in_channel…)."""
        ...
    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only `user` sees, in `channel`."""
        ...
    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Publish (replace) the App Home tab `view` (type "home") for the Slack user (views.publish)."""
        ...


class Interactions(Protocol):
    """Slack, as commands/ needs it to answer the person who typed or clicked: a form, a private or threaded message,
    a file in the channel, the interaction's response_url."""

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> None: ...
    async def post_ephemeral(self, channel: str, user: str, text: str) -> None: ...
    async def post_message(self, channel: str, text: str, thread_ts: str | None = None) -> None: ...
    async def upload_file(self, channel: str, content: bytes, *, filename: str, title: str, comment: str,
                          alt_text: str) -> None: ...
    async def respond(self, response_url: str, text: str) -> None:
        """An ephemeral answer through the interaction's response_url (it does not replace the original)."""
        ...


@dataclass(frozen=True)
class PagingUser:
    id: str
    name: str
    email: str


@dataclass(frozen=True)
class OnCall:
    user: PagingUser
    escalation_policy: str
    level: int


@dataclass(frozen=True)
class ShiftEntry:
    """Someone on call on a schedule from `start` until `end` (PagerDuty's final schedule, overrides included)."""

    start: datetime
    end: datetime
    user_id: str
    name: str


class Paging(Protocol):
    """PagerDuty, as the services need it. Every change names the acting user by email (PagerDuty's From header)."""

    async def user(self, user_id: str) -> PagingUser | None: ...
    async def user_by_email(self, email: str) -> PagingUser | None: ...
    async def acknowledge(self, incident_id: str, actor_email: str) -> None: ...
    async def resolve(self, incident_id: str, actor_email: str, resolution: str | None) -> None: ...
    async def add_note(self, incident_id: str, actor_email: str, content: str) -> None: ...
    async def request_responders(self, incident_id: str, actor: PagingUser, message: str,
                                 targets: Sequence[tuple[str, str]]) -> None:
        """`targets`: (kind, id) with kind "escalation_policy" or "user"."""
        ...
    async def escalation_policy_named(self, name: str) -> tuple[str, str] | None:
        """(id, name) of the escalation policy with this id or name, if any."""
        ...
    async def service_escalation_policy(self, service_id: str) -> str | None: ...
    async def oncalls(self, escalation_policy_id: str) -> list[OnCall]: ...
    async def schedule_entries(self, schedule_id: str, since: datetime, until: datetime) -> list[ShiftEntry]:
        """Who the schedule puts on call over [since, until), overrides included."""
        ...
    async def incident_by_key(self, incident_key: str, service_ids: Sequence[str]) -> dict[str, Any] | None:
        """The incident with this de-duplication key on one of these services, in any status (an open one first),
        if any."""
        ...
    async def create_incident(self, actor_email: str, title: str, service_id: str, urgency: str,
                              incident_key: str | None = None) -> dict[str, Any]:
        """Trigger an incident; with `incident_key`, PagerDuty returns the open incident with that key instead of
        opening a second one."""
        ...
    async def priorities(self) -> list[tuple[str, str]]:
        """The account's priorities as (id, name), most severe first (GET /priorities)."""
        ...
    async def set_priority(self, incident_id: str, actor_email: str, priority_id: str) -> None: ...
    async def raise_urgency(self, incident_id: str, actor_email: str) -> None:
        """Set the incident's urgency to high as the actor (PagerDuty sends no webhook for it)."""
        ...
    async def publish_status_update(self, incident_id: str, actor_email: str, message: str) -> str:
        """Publish a status update on the incident as the actor; returns its id."""
        ...


@dataclass(frozen=True)
class Ticket:
    sys_id: str
    number: str
    state: str
    link: str
    # The sys_id its `parent_incident` names ("" none): read by `Tickets.get` only (a merge must not write over a
    # follow-on's link to the closed ticket it follows on from, nor the desk's own: ticket_closing.py).
    parent: str = ""


class Tickets(Protocol):
    """ServiceNow's incident table, as the services need it."""

    async def find(self, incident_id: str) -> Ticket | None:
        """The ticket whose correlation id (or PagerDuty integration field) is this PagerDuty incident: the open one
        when there are several (a follow-on of a closed one), else the latest."""
        ...
    async def create(self, fields: dict[str, str]) -> Ticket: ...
    async def get(self, sys_id: str) -> Ticket | None: ...
    async def update(self, sys_id: str, fields: dict[str, str]) -> None: ...
    async def description(self, sys_id: str) -> str:
        """The ticket's description as it now is (the desk may have added to it): "" for a ticket not found."""
        ...
    async def work_notes(self, sys_id: str, *, own: bool = True) -> list[str]:
        """The texts of the ticket's work notes, oldest first (to look before writing one again). `own` (the default:
        what the bot looks for is its own writing): only those the bot's own ServiceNow user wrote (and those whose
        author ServiceNow does not say), never a desk agent's; False: everyone's."""
        ...
    async def attach(self, sys_id: str, filename: str, content_type: str, content: bytes) -> None:
        """Attach a file to the ticket (ServiceNow's Attachment API)."""
        ...
    async def attachments(self, sys_id: str) -> list[str]:
        """The file names of the ticket's attachments (to look before attaching again)."""
        ...
    async def comments(self, sys_id: str, *, own: bool = True) -> list[str]:
        """The texts of the ticket's customer-visible comments, oldest first (to look before writing one again);
        `own` as for `work_notes`."""
        ...
    async def close_code_choices(self) -> list[tuple[str, str]]:
        """The instance's active incident close codes, (value, label) each (its sys_choice rows for
        incident.close_code); an empty list when an ACL hides the rows."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


# -- webhook deliveries ---------------------------------------------------------------------------------------------
# Each outside system's adapter owns its webhook's wire format (bot/adapters/pagerduty/webhook.py,
# bot/adapters/servicenow/webhook.py); bot/app/runtime.py hands the readers to the intake and the worker.

EventT = TypeVar("EventT", covariant=True)


@dataclass(frozen=True)
class Delivery:
    """What the inbox keeps of a webhook delivery. `occurred_at` is ISO 8601, None when the sender does not say (the
    intake's clock stands in); `incident_id` is the PagerDuty incident it concerns, if any; `body` is the JSON to
    store: the delivery's, with its text made safe (bot/adapters/wire.py). `echo`: the sender telling the bot of a
    write the bot made itself (ServiceNow's business rule fires on the integration user's updates too) — answered,
    never stored, since applying it could only decide that nothing happened."""

    delivery_id: str
    event_id: str
    event_type: str
    incident_id: str | None
    occurred_at: str | None
    body: str
    echo: bool = False


class Webhook(Protocol):
    """An outside system's webhook, as the intake needs it. Both raise bot.errors.DeliveryError with the reason."""

    def check_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Return only if a configured secret signed `body`."""
        ...

    def read_delivery(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """What the inbox keeps of a signed delivery, once its body is seen to follow the sender's contract."""
        ...


class EventReader(Protocol[EventT]):
    """A stored delivery's body read into the domain's event, as the worker needs it."""

    def read_event(self, body: str, event_id: str) -> EventT:
        """The event in `body` (stored under `event_id`); bot.errors.DeliveryError says why it cannot be read."""
        ...


Json = dict[str, Any]


class PagingAdmin(Protocol):
    """PagerDuty's REST API as provisioning needs it: plain reads and writes of its teams, users, schedules,
    escalation policies, services and webhook subscriptions. Failures raise bot.errors.ProvisioningError."""

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Json | None = None) -> Json:
        """One call; the decoded answer ({} for 204)."""
        ...

    def list(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[Json]:
        """Every item of a paginated list."""
        ...
