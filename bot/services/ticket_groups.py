"""The assignment group an incident's ServiceNow ticket goes to: its service's team's (`teams[].servicenow_group`).

A ticket with none sits in no team's queue: one whose service is in no team of the catalogue, or whose team names no
group. Such a ticket says why in its description (ticket_description.py), and the operators hear of it once a day per
service (across replicas, by the Deduplication port), with what to add to the catalogue. The service is claimed as
told and the alert queued in one transaction: as two writes, a failure between them (or the replica dying there) told
it twice — or, claimed first, never.
"""

from __future__ import annotations

from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.alert_text import plain
from bot.domain.effects import OPERATORS, AlertOperators
from bot.domain.incident import Incident
from bot.ports import Clock
from bot.ports.store import Deduplication, Outbox
from bot.render.format import clip

# How long the operators are remembered to have heard that a service's tickets get no assignment group.
TOLD_SECONDS = 86_400.0


class NoGroupStore(Outbox, Deduplication, Protocol):
    """The operators' alert to queue, and whether they heard already."""


def group_of(catalogue: Catalogue, service_id: str) -> str | None:
    """The assignment group of the team owning a PagerDuty service, if the catalogue gives one."""
    team = catalogue.team_of_service(service_id)
    return team.servicenow_group if team is not None and team.servicenow_group else None


def why_no_group(catalogue: Catalogue, incident: Incident) -> str:
    """Why the incident's ticket has no assignment group, as the desk and the operators read it."""
    team = catalogue.team_of_service(incident.service_id)
    service = f"{clip(incident.service_name, 200)} ({incident.service_id})"
    return (f"PagerDuty service {service} is in no team of the platform catalogue" if team is None
            else f"team {team.name} (PagerDuty service {service}) has no servicenow_group in the platform catalogue")


async def tell_no_group(store: NoGroupStore, clock: Clock, catalogue: Catalogue, incident: Incident,
                        number: str) -> None:
    """The operators hear that ticket `number`, just made for the incident, is in no team's queue (once a day per
    service: its later tickets say why in their description). Safe to call again for the same ticket (a retry of
    the effect that made it): not told again once the alert is queued."""
    alert = AlertOperators(OPERATORS, plain(
        f"⚠️ ServiceNow ticket {number} (PagerDuty incident #{incident.number}) has no assignment group, so it "
        f"is in no team's queue: {why_no_group(catalogue, incident)}. Assign it by hand, and add the service (or "
        "the team's `servicenow_group`) to the catalogue; this service's later tickets are not told again today."))
    await store.first_time_then_queue(f"servicenow:no-group:{incident.service_id}", TOLD_SECONDS,
                                      clock.now().timestamp(), alert)
