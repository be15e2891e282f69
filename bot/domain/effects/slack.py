"""The effects run in the Slack lane: the incident's channel, card and timeline lines, its people's invitations and
direct messages, the rotas' handovers, the review's draft, key messages, status updates shared and reminded, what
people did to the incident's channel learnt from Slack (its name, the bot invited back), and the channel's archiving.
The operators' alert, Slack's too, is the package's own (bot/domain/effects/__init__.py): any part may queue it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain.alert_text import plain as _plain
from bot.domain.alert_text import shown_error
from bot.domain.effects import Effect

# A review drafted on resolve waits this long, so the resolution note (added to PagerDuty just after the resolve)
# is on the timeline it is written from.
DRAFT_AFTER_RESOLVE_SECONDS = 60.0


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


def handover_subject(rota_id: str, shift_key: str) -> str:
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
        return handover_subject(self.rota_id, self.shift_key)

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


def _channel_queue(incident_id: str) -> str:
    """The queue of what the bot learns of an incident's own channel from Slack after people changed it: in order among
    themselves, behind none of the incident's card and lines (a read waiting out Slack holds them up in no way)."""
    return f"channel:{incident_id}"


@dataclass(frozen=True)
class LearnChannelName(Effect):
    """People renamed the incident's own channel `channel_id` (`channel_rename`, `group_rename`: recorded by queuing
    this before the event's ack, bot/services/channel_events.py): its name now is asked of Slack (conversations.info,
    never the event's: a late retry of an earlier rename's event names a name gone) and saved when it differs, the
    ticket told (`SyncTicket(channel_renamed=True)`) when ServiceNow's sync is on. Nothing when the channel is gone,
    or no longer the incident's own; Slack failing the read is retried like any effect."""

    kind: ClassVar[str] = "learn_channel_name"
    channel_id: str

    @property
    def queue(self) -> str:
        return _channel_queue(self.incident_id)

    def dead_alert(self, attempts: int, error: str) -> str | None:
        # The effect does not know whether ServiceNow's sync is on: worded so as to be true either way.
        return (f"🚨 Paved Road could not ask Slack what incident {_plain(self.incident_id)}'s channel "
                f"<#{_plain(self.channel_id)}> is called now, after it was renamed ({attempts} attempt(s): "
                f"{shown_error(error)}). Where the bot names the channel by name, it may name it by an earlier name "
                "— the ServiceNow ticket's `Slack: #…` line and close notes when ServiceNow's sync is on, the "
                "review's draft (a draft already posted keeps the name it was written with) — until it learns the "
                "new one. Once Slack answers again, any rename of the channel makes the bot ask again and correct "
                "them; or correct the ticket's line by hand.")


@dataclass(frozen=True)
class LearnBotBack(Effect):
    """Someone invited the bot back into the incident's own channel `channel_id`, which it had been removed from
    (`member_joined_channel` of the bot's user: recorded by queuing this before the event's ack): whether it is back is
    asked of Slack (conversations.info: a late retry of the bot's join when it made the channel comes after its
    removal), and back, the removal is let go of and the card (with its topic) refreshed. Slack failing the read is
    retried like any effect."""

    kind: ClassVar[str] = "learn_bot_back"
    channel_id: str

    @property
    def queue(self) -> str:
        return _channel_queue(self.incident_id)

    def dead_alert(self, attempts: int, error: str) -> str | None:
        channel = f"<#{_plain(self.channel_id)}>"
        return (f"🚨 Paved Road could not ask Slack whether it is back in incident {_plain(self.incident_id)}'s "
                f"channel {channel}, where someone invited it ({attempts} attempt(s): {shown_error(error)}), so it "
                "still takes itself for removed there. Its lines and card still reach the channel, but until it "
                "learns it is back: the channel's topic is not set (it asks Slack again, and sets it, only at the "
                "incident's next change its topic shows — status, priority, ticket — none once it is resolved), "
                "so a topic someone changed stays; and should the bot be removed from the channel again within a "
                "day of the channel being told of its first removal, it is not told again. Nothing else waits on it: "
                "set the topic by hand if it matters, and should people remove the bot again, `/invite @pavedroad` "
                f"back into {channel}.")


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
