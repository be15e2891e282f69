"""The effects run in the PagerDuty lane: a handover's names asked again, a status update published, a page's
urgency raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain.alert_text import plain as _plain
from bot.domain.alert_text import shown_error
from bot.domain.effects import Effect
from bot.domain.effects.slack import handover_subject


@dataclass(frozen=True)
class CompleteHandover(Effect):
    """Ask PagerDuty again who handed over to whom, and update the posted handover with the names."""

    kind: ClassVar[str] = "complete_handover"
    system: ClassVar[str] = "pagerduty"
    rota_id: str
    shift_key: str

    def subject(self) -> str:
        return handover_subject(self.rota_id, self.shift_key)

    def dead_alert(self, attempts: int, error: str) -> str | None:
        check = ("PagerDuty has no such schedule (replaced there?): set the rota's `pagerduty_schedule_id` in the "
                 "catalogue to the schedule's id now and reload it" if "Not Found" in error
                 else "Check PagerDuty's status and the API token")
        return (f"🚨 The on-call handover {_plain(self.shift_key)} was posted without names: PagerDuty did not say "
                f"who was on call after {attempts} attempt(s) ({shown_error(error)}). {check}; the rota's engineers "
                "should confirm who is on call in PagerDuty.")


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
