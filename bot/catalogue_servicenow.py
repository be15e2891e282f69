"""The catalogue's `servicenow` section: how incidents become ServiceNow tickets — who opens them, how often the
timeline reaches them, the close codes a resolve and a merge set, the impact and urgency a PagerDuty urgency or
priority maps to — and how tickets page teams (the paging category, the PagerDuty requester, PagerDuty's own app's
field).

Kept beside `bot/catalogue.py` (whose `Catalogue` holds it as `servicenow`) so that each module stays one concern: the
organisation there, the ticketing integration's settings here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from bot.catalogue_response import Section

# The incident table's close_code column: a longer code is cut to it (silently, as a varchar), and no instance's choice
# matches what is left.
CLOSE_CODE_CHARS = 40


def _close_code(value: str) -> str:
    """A close code the ticket can take: not empty or blank (resolving needs one: ServiceNow's data policy refuses the
    resolve, and the ticket stays open), nor longer than the column."""
    if not value.strip():
        raise ValueError("empty: give one of your instance's incident close codes (its close_code choices), e.g. "
                         "'Solved (Permanently)' or, in current releases, 'Solution provided' and 'Duplicate'")
    if len(value) > CLOSE_CODE_CHARS:
        raise ValueError(f"{value!r} is longer than ServiceNow's close_code column ({CLOSE_CODE_CHARS} characters): "
                         "write the choice's value as your instance's incident close_code choices have it")
    return value


CloseCode = Annotated[str, AfterValidator(_close_code)]


class ImpactUrgency(Section):
    impact: Literal["1", "2", "3"]
    urgency: Literal["1", "2", "3"]


class ServiceNowSync(Section):
    """How incidents become ServiceNow tickets, and tickets page teams."""

    caller: str = "pavedroad.integration"
    work_note_minutes: float = Field(default=5, gt=0)
    # Releases before Utah's; a code the instance's choices lack is set as its equivalent there
    # (services/close_code_choices.py): "Solution provided" in Utah and later.
    close_code: CloseCode = "Solved (Permanently)"
    # The close code of an incident merged away in PagerDuty: it goes on in another incident, whose ticket the merged
    # one's `parent_incident` names. ServiceNow's own for a duplicate ("Duplicate" in current releases' choice list).
    merged_close_code: CloseCode = "Duplicate"
    # PagerDuty urgency → ticket impact/urgency; a priority (P1…) listed in `priority` wins over the urgency.
    urgency: dict[str, ImpactUrgency] = Field(default_factory=lambda: {
        "high": ImpactUrgency(impact="1", urgency="1"), "low": ImpactUrgency(impact="3", urgency="3")})
    priority: dict[str, ImpactUrgency] = Field(default_factory=dict)
    # A ticket created with this category pages the team of its assignment group even before it is assigned.
    page_category: str | None = None
    # The PagerDuty user (email) that tickets page teams as (PagerDuty's From header).
    pagerduty_requester: str | None = None
    # The field where PagerDuty's own ServiceNow app keeps the incident id, if that app is installed: a ticket it
    # made is then found there too, and reused.
    pagerduty_integration_field: str | None = None

    def impact_urgency(self, urgency: str, priority: str | None) -> ImpactUrgency:
        return self.priority.get(priority or "") or self.urgency.get(urgency) or ImpactUrgency(impact="2", urgency="2")

    def urgency_priorities(self) -> dict[str, int]:  # read back, the urgency a ticket pages at (ticket_rules.py)
        return {name: int(levels.impact) + int(levels.urgency) - 1 for name, levels in self.urgency.items()}
