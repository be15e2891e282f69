"""Effects: what the outside world must be told, decided by the domain and performed later by the dispatcher.

Each effect is small and names the incident; its executor reads current state when it runs, so replaying an effect
converges on the same result instead of repeating it (see bot/services/executor.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from bot.domain.alert_text import plain as _plain
from bot.domain.alert_text import shown_error

# A review drafted on resolve waits this long, so the resolution note (added to PagerDuty just after the resolve)
# is on the timeline it is written from.
DRAFT_AFTER_RESOLVE_SECONDS = 60.0


@dataclass(frozen=True)
class Effect:
    kind: ClassVar[str] = "effect"
    # The outside system it talks to: effects run in order per (system, incident), independently across systems.
    system: ClassVar[str] = "slack"
    incident_id: str
    # Fields added later, left out of the payload while unset (falsy): an effect not using them stays readable by a
    # replica of an earlier version, in a rolling upgrade or after a rollback (store/unreadable.py).
    optional: ClassVar[tuple[str, ...]] = ()

    def payload(self) -> dict[str, Any]:
        # A shallow dict of strings, bools and tuples of strings (every effect of every decision is encoded).
        if not self.optional:  # most effects: no filter to pay for on the hot path
            return {name: getattr(self, name) for name in _field_names(type(self))}
        return {name: value for name in _field_names(type(self))
                if (value := getattr(self, name)) or name not in self.optional}

    def due_in_seconds(self) -> float:
        """How long after it is queued the effect is due (at once, but for a review drafted after a resolve)."""
        return 0.0

    def dead_alert(self, attempts: int, error: str) -> str | None:
        """The operators' alert when this effect is given up on; None: the dispatcher's generic one."""
        return None

    def subject(self) -> str:
        """Whom or what the effect was for, as the operators' alerts name it: its incident, unless its queue is
        another's (a rota's handovers, a person's direct messages)."""
        return f"incident {_plain(self.incident_id)}"

    @property
    def queue(self) -> str:
        return f"{self.system}:{self.incident_id}"


@dataclass(frozen=True)
class OpenIncidentChannel(Effect):
    """Create (or find) the incident's channel, set its topic, invite responders, post and pin the card,
    and announce it in the owning team's channel. Each step is remembered as soon as it is done. Once it is open, the
    App Homes of the people the incident concerns are refreshed (they link the channel)."""

    kind: ClassVar[str] = "open_incident_channel"


@dataclass(frozen=True)
class RefreshCard(Effect):
    """Render the card (and topic) from current state and update them in place."""

    kind: ClassVar[str] = "refresh_card"


@dataclass(frozen=True)
class PostTimelineEntry(Effect):
    """Post one timeline line to the incident's channel (threaded under the card when the channel is shared)."""

    kind: ClassVar[str] = "post_timeline_entry"
    entry_id: str


@dataclass(frozen=True)
class InviteResponders(Effect):
    """Invite PagerDuty users (by id) to the incident channel, naming those who cannot be found in Slack."""

    kind: ClassVar[str] = "invite_responders"
    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class TellPerson(Effect):
    """Tell one person something in their direct messages with the app (a command a stop cut short, a Take command
    that came second: its text says). Its `incident_id` is a queue of its own, `person:<user>`, behind no incident's."""

    kind: ClassVar[str] = "tell_person"
    user: str
    text: str

    def subject(self) -> str:
        # What they were to be told, too: whoever reads the alert can tell them by hand.
        return f"<@{self.user}> (in their direct messages with the app, the message: {self.text})"

    def dead_alert(self, attempts: int, error: str) -> str | None:
        # Its `incident_id` is the person's queue, no incident: the generic alert would name "incident person:U…".
        return (f"⚠️ Paved Road could not tell <@{self.user}> something, in their direct messages with the app (after "
                f"{attempts} attempt(s): {shown_error(error)}). Tell them yourself; the message was: "
                f"{self.text}")  # Slack markup escaped by its writer: escaped again, a `<` showed as `&lt;`


@dataclass(frozen=True)
class AlertOperators(Effect):
    """Tell the operators' channel that something needs a human (a dead effect, a quarantined delivery)."""

    kind: ClassVar[str] = "alert_operators"
    text: str

    @classmethod
    def grouped(cls, group: str, text: str) -> AlertOperators:
        """An alert of one cause (`group`), in its first one's thread for an hour (services/operators_channel.py). The
        group is its queue, not a field an earlier version (a rollback) could not read: alerts go out in order."""
        return cls(f"{OPERATORS}:{group}", text)

    @property
    def group(self) -> str:  # "" for an alert of its own
        queue, _, group = self.incident_id.partition(":")
        return group if queue == OPERATORS else ""


@dataclass(frozen=True)
class OpenTicket(Effect):
    """Find the incident's ServiceNow ticket (correlation id, PagerDuty's field) or create it; a known one: retitle."""

    kind: ClassVar[str] = "open_ticket"
    system: ClassVar[str] = "servicenow"


@dataclass(frozen=True)
class SyncTicket(Effect):
    """Bring the ticket in step: the unsent lines as one work note, then the state (ticket_sync.py). `no_channel`: its
    channel could not be opened: the lines go without its link. `channel_moved`: it went on in a new channel (its own
    archived): the ticket is told the new link. `channel_renamed`: renamed in Slack: the ticket is told the name."""

    kind: ClassVar[str] = "sync_ticket"
    system: ClassVar[str] = "servicenow"
    optional: ClassVar[tuple[str, ...]] = ("channel_moved", "desk_ticket", "desk_state", "channel_renamed")
    no_channel: bool = False
    channel_moved: bool = False
    channel_renamed: bool = False
    # A person's update of ticket `desk_ticket` (sys_id) left it in state `desk_state`: recorded before the sync, so
    # that the bot never sets back a ticket the desk resolved (bot/services/ticket_sync.py).
    desk_ticket: str = ""
    desk_state: str = ""


@dataclass(frozen=True)
class PageTeamForTicket(Effect):
    """A ticket raised for a team: trigger a PagerDuty incident on the team's service, linked to the ticket.
    `incident_id` here is the ticket's sys_id (the incident does not exist yet)."""

    kind: ClassVar[str] = "page_team_for_ticket"
    system: ClassVar[str] = "servicenow"
    optional: ClassVar[tuple[str, ...]] = ("urgency",)
    team_id: str
    number: str
    short_description: str
    urgency: str = ""  # PagerDuty's, from the ticket's impact and urgency (bot/domain/ticket_rules.py); "": high


@dataclass(frozen=True)
class NoteOnTicket(Effect):
    """Write a work note on a ticket (by sys_id, in `incident_id`), e.g. that its group is no team we know — once,
    however often the ticket's updates decide it again — and with it, the first time, `alert` to the operators."""

    kind: ClassVar[str] = "note_on_ticket"
    system: ClassVar[str] = "servicenow"
    text: str
    alert: str = ""


def _handover_subject(rota_id: str, shift_key: str) -> str:
    """How the operators' alerts name a handover's effects (their queue is the rota's, not an incident's)."""
    return f"rota {_plain(rota_id)}'s on-call handover {_plain(shift_key)}"


@dataclass(frozen=True)
class PostHandover(Effect):
    """Post a rota's handover for one shift boundary (`incident_id` is "handover:<rota id>", so each rota's posts
    queue in order, apart from incidents'). Who hands over to whom is asked of PagerDuty once; when it cannot
    answer, the post says so and `CompleteHandover` fills the names in later."""

    kind: ClassVar[str] = "post_handover"
    rota_id: str
    shift_key: str

    def subject(self) -> str:
        return _handover_subject(self.rota_id, self.shift_key)

    def dead_alert(self, attempts: int, error: str) -> str | None:
        check = ("Slack finds no such channel the bot can post in: set the rota's `slack_channel` in the catalogue "
                 "to the channel's name now (renamed or archived in Slack?), or `/invite @pavedroad` into it if it is "
                 "private" if any(code in error for code in ("channel_not_found", "not_in_channel", "is_archived"))
                 else "Slack does not let the bot post in the rota's channel (posting there is limited — to admins, "
                 "say — or closed to the app by the workspace's rules): let the app post there (the channel's "
                 "settings → Posting permissions), or set the rota's `slack_channel` in the catalogue to a channel it "
                 "may post in" if any(code in error for code in ("restricted_action", "ekm_access_denied",
                                                                  "team_access_not_granted"))
                 else "check the bot's Slack token and scopes (/readyz lists the failure)")
        return (f"🚨 Paved Road could not post rota {_plain(self.rota_id)}'s on-call handover "
                f"{_plain(self.shift_key)} after {attempts} attempt(s): {shown_error(error)}. The outgoing engineer "
                f"should hand over by hand in the rota's channel; {check}.")


@dataclass(frozen=True)
class CompleteHandover(Effect):
    """Ask PagerDuty again who handed over to whom, and update the posted handover with the names."""

    kind: ClassVar[str] = "complete_handover"
    system: ClassVar[str] = "pagerduty"
    rota_id: str
    shift_key: str

    def subject(self) -> str:
        return _handover_subject(self.rota_id, self.shift_key)

    def dead_alert(self, attempts: int, error: str) -> str | None:
        check = ("PagerDuty has no such schedule (replaced there?): set the rota's `pagerduty_schedule_id` in the "
                 "catalogue to the schedule's id now and reload it" if "Not Found" in error
                 else "Check PagerDuty's status and the API token")
        return (f"🚨 The on-call handover {_plain(self.shift_key)} was posted without names: PagerDuty did not say "
                f"who was on call after {attempts} attempt(s) ({shown_error(error)}). {check}; the rota's engineers "
                "should confirm who is on call in PagerDuty.")


@dataclass(frozen=True)
class DraftReview(Effect):
    """Write the incident's review document (Markdown) and upload it to the incident channel; then attach the same
    bytes to the ServiceNow ticket (`AttachReview`). `asked_by` is the Slack user who asked, if anyone did, and
    `channel` where they asked (the draft goes there when the incident has no channel it can be shared in).
    `after_resolve`: the draft the catalogue asks for on every resolve, due a minute after it (the last words of the
    resolve — its note, a final update — land on the timeline first)."""

    kind: ClassVar[str] = "draft_review"
    asked_by: str | None = None
    channel: str | None = None
    after_resolve: bool = False

    def due_in_seconds(self) -> float:
        return DRAFT_AFTER_RESOLVE_SECONDS if self.after_resolve else 0.0

    @property
    def queue(self) -> str:
        # A queue of its own: a draft waiting for its minute after a resolve must not hold up the incident's other
        # Slack work, which runs in order behind the first pending effect of its queue.
        return f"review:{self.incident_id}"


@dataclass(frozen=True)
class AttachReview(Effect):
    """Attach a review document to the incident's ServiceNow ticket (the Attachment API), once: an attachment of
    that name already on the ticket is not added again. The document travels in the effect, so the ticket gets the
    very bytes the channel got."""

    kind: ClassVar[str] = "attach_review"
    system: ClassVar[str] = "servicenow"
    filename: str
    content: str
    channel: str | None = None

    def dead_alert(self, attempts: int, error: str) -> str | None:
        where = f" It is in Slack (<#{self.channel}>)." if self.channel else " It is in the incident's Slack channel."
        return (f"⚠️ ServiceNow did not take the review document `{_plain(self.filename)}` as an attachment to "
                f"incident {_plain(self.incident_id)}'s ticket after {attempts} attempt(s): {shown_error(error)}."
                f"{where} Attach it by hand, or check the integration user's roles (attachments need write access "
                "to the incident table).")


@dataclass(frozen=True)
class ReadKeyMessage(Effect):
    """Read back from Slack a message someone marked with the timeline reaction (the reaction event does not carry
    it), with its author's and marker's names, and record it as a key message (bot/domain/contributions.py). A
    message that is gone, not a person's, or in a channel the bot left ends here; Slack rate-limiting or failing
    the read is retried like any effect, so a 📌 marked in the thick of an outage still joins the timeline."""

    kind: ClassVar[str] = "read_key_message"
    channel: str
    ts: str
    marked_by: str  # the Slack user id of whoever marked it first

    @property
    def queue(self) -> str:
        # Its own queue: a read waiting out Slack's rate limit must not hold up the incident's card and lines.
        return f"keymessage:{self.incident_id}"

    def dead_alert(self, attempts: int, error: str) -> str | None:
        return (f"🚨 A message marked for the timeline of incident {_plain(self.incident_id)} could not be read "
                f"from Slack after {attempts} attempt(s): {shown_error(error)}. It is not on the timeline nor the "
                f"ticket: find it in <#{_plain(self.channel)}> (ts {_plain(self.ts)}) and add it with "
                "`/incident note`.")


@dataclass(frozen=True)
class ArchiveChannel(Effect):
    """Archive a resolved incident's channel, after a last message pointing to the review. An open (reopened)
    incident's channel is never archived; a channel already archived, or gone, is not an error."""

    kind: ClassVar[str] = "archive_channel"


@dataclass(frozen=True)
class SayChannelMoved(Effect):
    """Say in an incident's new channel that it goes on there, its own archived one (`old_channel_id`) holding the
    earlier story: queued as the move begins, so that however many attempts the new channel's opening takes (or a
    crash between them) it is said once it is open — and once (looked for by its marker before it is posted)."""

    kind: ClassVar[str] = "say_channel_moved"
    old_channel_id: str


@dataclass(frozen=True)
class TellNewTeam(Effect):
    """The incident moved from `from_service` to a service of another team: that team's channel hears of it, as the
    first team's did, with a link to where it is followed (executor.py; nothing when both teams share a channel)."""

    kind: ClassVar[str] = "tell_new_team"
    from_service: str


@dataclass(frozen=True)
class InviteToChannel(Effect):
    """Invite Slack users (by Slack id) to the incident channel: a new role holder, say."""

    kind: ClassVar[str] = "invite_to_channel"
    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class ShareStatusUpdate(Effect):
    """Post a status update in the stakeholders' channel, linking back to the incident channel. A channel the bot
    cannot post in is reported to the update's author and the operators; the update's other effects go on."""

    kind: ClassVar[str] = "share_status_update"
    update_id: str


@dataclass(frozen=True)
class PublishStatusUpdate(Effect):
    """Publish a status update in PagerDuty (POST /incidents/{id}/status_updates) as its author."""

    kind: ClassVar[str] = "publish_status_update"
    system: ClassVar[str] = "pagerduty"
    update_id: str

    def dead_alert(self, attempts: int, error: str) -> str | None:
        return (f"🚨 A status update on incident {_plain(self.incident_id)} could not be published in PagerDuty "
                f"after {attempts} attempt(s): {shown_error(error)}. It is in the incident channel and the "
                "stakeholders' channel; publish it in PagerDuty by hand, and check the API token.")


@dataclass(frozen=True)
class CommentOnTicket(Effect):
    """Write a status update on the incident's ServiceNow ticket as a customer-visible comment (`comments`)."""

    kind: ClassVar[str] = "comment_on_ticket"
    system: ClassVar[str] = "servicenow"
    update_id: str


@dataclass(frozen=True)
class UpdateTicketLevels(Effect):
    """Set the ticket's impact and urgency from the incident's urgency and priority (the catalogue's mapping)."""

    kind: ClassVar[str] = "update_ticket_levels"
    system: ClassVar[str] = "servicenow"


@dataclass(frozen=True)
class RaisePageUrgency(Effect):
    """A ticket raised to a high priority after it paged low: the page goes high (as `servicenow.pagerduty_requester`;
    never lowered). `number`: the ticket's; `raise_id`: the delivery raising it, naming its record (ticket_pages)."""

    kind: ClassVar[str] = "raise_page_urgency"
    system: ClassVar[str] = "pagerduty"
    number: str
    raise_id: str = ""  # (empty: queued before it was added)

    def dead_alert(self, attempts: int, error: str) -> str | None:
        return (f"🚨 ServiceNow {_plain(self.number)} was raised to a high priority; its page ({self.subject()}) "
                f"is still low urgency: {shown_error(error)}. Raise it in PagerDuty by hand: it may wake nobody.")


@dataclass(frozen=True)
class PostReminder(Effect):
    """Remind the incident channel that a status update is due, mentioning the commander (or the assignees while
    nobody leads), with a button that opens the update form."""

    kind: ClassVar[str] = "post_status_reminder"
    reminder_id: str


@dataclass(frozen=True)
class OfferCommand(Effect):
    """Offer the paged incident manager (a PagerDuty user) to take command, in the incident channel."""

    kind: ClassVar[str] = "offer_command"
    pagerduty_user_id: str


@dataclass(frozen=True)
class RefreshHomes(Effect):
    """Publish the App Home tab again for the people an incident's change concerns (its assignees by PagerDuty user
    id and its role holders by Slack user id, before and after the change). No longer queued: a change's Homes are
    asked of the in-memory publisher once its decision is stored (`Decision.homes`, bot/domain/home.py), an opening's
    once its channel is open. Kept so that rows queued by an earlier version (a deployment upgraded mid-incident) are
    still read and performed; best effort (a Home that cannot be published is logged, never retried)."""

    kind: ClassVar[str] = "refresh_homes"
    pagerduty_user_ids: tuple[str, ...]
    slack_user_ids: tuple[str, ...] = ()  # role holders (the toolkit records roles by Slack user id)


# The outside systems effects talk to: the dispatcher's lanes, each with its own concurrency, so that work waiting
# for one system's rate budget holds up none of another's. Every queue not ServiceNow's or PagerDuty's is Slack's
# (a review draft's queue, "review:<id>", uploads to Slack; a key message's read, "keymessage:<id>", reads it); the
# stores derive an effect's lane from its queue so.
LANES = ("slack", "servicenow", "pagerduty")

# The queue of operators' alerts: they go out in order among themselves, behind no incident's effects.
OPERATORS = "operators"


EFFECT_TYPES: dict[str, type[Effect]] = {cls.kind: cls for cls in (
    OpenIncidentChannel, RefreshCard, PostTimelineEntry, InviteResponders, AlertOperators, OpenTicket, SyncTicket,
    PageTeamForTicket, NoteOnTicket, PostHandover, CompleteHandover, DraftReview, AttachReview, ReadKeyMessage,
    ArchiveChannel, InviteToChannel, ShareStatusUpdate, PublishStatusUpdate, CommentOnTicket, UpdateTicketLevels,
    PostReminder, OfferCommand, RefreshHomes, TellPerson, SayChannelMoved, RaisePageUrgency,
    TellNewTeam)}


def effect_from_row(kind: str, payload: dict[str, Any]) -> Effect:
    cls = EFFECT_TYPES[kind]
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()}
    return cls(**values)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type[Effect]) -> tuple[str, ...]:
    """An effect class's field names, in order: looked up once per class, not on every payload."""
    if (names := _FIELD_NAMES.get(kind)) is None:
        names = _FIELD_NAMES[kind] = tuple(field.name for field in fields(kind))
    return names

