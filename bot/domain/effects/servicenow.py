"""The effects run in the ServiceNow lane: the incident's ticket opened, kept in step, its levels set, its comments,
work notes and the review's attachment, and a ticket raised for a team paged (queued with the ticket's work, in
order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain.alert_text import plain as _plain
from bot.domain.alert_text import shown_error
from bot.domain.effects import Effect


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
