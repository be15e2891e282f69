"""A follow-up: an action item recorded during or after an incident (`/incident followup`), kept on the Incident
so that it reaches the review document and the ServiceNow ticket. Plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FollowUp:
    """Action item `number` (1, 2, … within its incident), who recorded it, and who owns it (a Slack user id and
    name, when one was named)."""

    number: int
    text: str
    added_by: str
    added_at: datetime
    owner_id: str | None = None
    owner_name: str | None = None

    @property
    def owner(self) -> str | None:
        return self.owner_name or self.owner_id
