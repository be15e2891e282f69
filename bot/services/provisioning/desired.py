"""What PagerDuty should hold for a catalogue: the resources, each with a stable key and its comparable fields.

For every service, its exposure band says who is on call in working hours and out of hours: the owning team's
rota, the product domain's rota, or nobody. So the catalogue implies:

- a PagerDuty team per catalogue team (`team/<team>`);
- a schedule per rota a band needs: `schedule/team/<team>/working-hours|out-of-hours` and
  `schedule/domain/<domain>/working-hours|out-of-hours`, whose one layer rotates the team's (domain's) `members`
  weekly, restricted to working hours (Monday to Friday) or to the rest of the week;
- an escalation policy per team and band (`escalation_policy/<team>/<band>`): first the rotas the band names (one
  rule: the working-hours and the out-of-hours schedule, each empty outside its hours), then the incident-manager
  rota (the targets of the catalogue's incident-manager policy's first rule);
- the service on that policy (`service/<service>`) and a v3 webhook subscription for it pointing at the bot
  (`webhook_subscription/<service>`).

References between resources are keys (`schedule/team/basket/working-hours`), users are `user/<email>`, and
resources that Paved Road does not manage are `<kind>#<id>`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.catalogue import Catalogue, Domain, Rota, Service, Team
from bot.domain.events import HANDLED_EVENTS

Kind = Literal["team", "schedule", "escalation_policy", "service", "webhook_subscription"]
# Creation order; deletion goes the other way round (a policy in use by a service cannot be deleted, and so on).
KINDS: tuple[Kind, ...] = ("team", "schedule", "escalation_policy", "service", "webhook_subscription")
TAG_PREFIX = "[pavedroad:"
WEBHOOK_PATH = "/pagerduty/webhook"
# The v3 events the bot reads: every one its domain handles (a service moved, a role given, a bridge set too — left
# out, PagerDuty never sends them, and what reads them never happens).
WEBHOOK_EVENTS: tuple[str, ...] = tuple(sorted(HANDLED_EVENTS))
ESCALATION_DELAY_MINUTES = 30
WEEK_SECONDS = 7 * 24 * 3600
# Layers start on a fixed Monday so that the plan is the same every day it is run.
_LAYER_EPOCH = (2026, 1, 5)
_DEFAULT_HOURS = ("09:00", "17:30")
_DEFAULT_ZONE = "Europe/London"

Period = Literal["working-hours", "out-of-hours"]
# A layer restriction as PagerDuty writes it: type, start_time_of_day, duration_seconds, start_day_of_week.
RestrictionSpec = tuple[str, str, int, int | None]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def tag(key: str) -> str:
    return f"{TAG_PREFIX}{key}]"


def key_in(description: str | None) -> str | None:
    """The managed resource key tagged in a description, or None for a resource Paved Road does not manage."""
    text = description or ""
    start = text.rfind(TAG_PREFIX)
    end = text.find("]", start)
    return text[start + len(TAG_PREFIX):end] if start >= 0 and end > start else None


@dataclass(frozen=True)
class Resource:
    """One resource as the catalogue wants it. `fields` are what plan compares (and shows). A schedule's one layer
    also has `layer_start` (sent, not compared: PagerDuty renders it in the schedule's zone) and `restrictions`
    (compared as the readable `hours`)."""

    key: str
    kind: Kind
    name: str
    fields: Mapping[str, object]
    layer_start: str = ""
    restrictions: tuple[RestrictionSpec, ...] = ()
    # For a service: the PagerDuty id the catalogue names, adopted if it exists but carries no tag yet.
    catalogue_id: str | None = None
    # The catalogue field its name comes from (`teams[5].name`), for problems PagerDuty would have with the name.
    source: str = ""


@dataclass
class DesiredState:
    resources: list[Resource] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # The provisioned schedules (keys) each catalogue rota (by index) hands over: the catalogue should name their ids.
    rota_schedules: dict[int, list[str]] = field(default_factory=dict)
    # Catalogue services (by index) → their service key, for "put this id in the catalogue" notes.
    service_keys: dict[int, str] = field(default_factory=dict)

    def by_key(self) -> dict[str, Resource]:
        return {r.key: r for r in self.resources}


def desired_state(catalogue: Catalogue, *, known_emails: set[str], incident_manager: tuple[str, ...] | None,
                  bot_url: str) -> DesiredState:
    """The resources `catalogue` implies. `known_emails`: PagerDuty users' emails (lower case);
    `incident_manager`: the incident-manager policy's first-rule targets (None: not found or not configured)."""
    state = DesiredState()
    teams = {t.id: (i, t) for i, t in enumerate(catalogue.teams)}
    domains = {d.id: (i, d) for i, d in enumerate(catalogue.domains)}
    needed: dict[tuple[str, str, Period], list[str]] = {}  # (owner kind, owner id, period) → services needing it
    policies: dict[tuple[str, str], tuple[tuple[str, ...], list[int]]] = {}  # (team, band) → (rule 1, services)
    if catalogue.incident_manager is not None and incident_manager is None:
        state.problems.append(f"incident_manager.escalation_policy_id: "
                              f"{catalogue.incident_manager.escalation_policy_id!r} is not an escalation policy in "
                              "PagerDuty; fix the id (PagerDuty → Escalation Policies, the id in the URL)")
    for index, service in enumerate(catalogue.services):
        match = catalogue.band_of(service)
        if match is None:
            state.problems.append(f"services[{index}].exposure: not set; provisioning chooses the service's rotas "
                                  "by its exposure band, so write its maximum exposure, e.g. '£500K in 4h'")
            continue
        _, team = teams[service.team]
        rule: list[str] = []
        for period, level in (("working-hours", match.band.working_hours), ("out-of-hours", match.band.out_of_hours)):
            if level == "team":
                rota_owner = ("team", team.id)
            elif level == "domain":
                if team.domain is None:
                    state.problems.append(
                        f"services[{index}]: band {match.band.name} needs a product-domain rota "
                        f"{period.replace('-', ' ')}, but team {team.id!r} has no domain; set "
                        f"teams[{teams[team.id][0]}].domain")
                    continue
                rota_owner = ("domain", team.domain)
            else:
                continue
            needed.setdefault((*rota_owner, period), []).append(service.id)  # type: ignore[arg-type]
            rule.append(_schedule_key(*rota_owner, period))  # type: ignore[arg-type]
        policy_key = (team.id, match.band.name)
        policies.setdefault(policy_key, (tuple(rule), []))[1].append(index)
    for team_id, (team_index, team) in teams.items():
        key = f"team/{team_id}"
        state.resources.append(Resource(key, "team", team.name, {
            "name": team.name, "description": f"{team.name}: on-call from the Paved Road catalogue {tag(key)}",
        }, source=f"teams[{team_index}].name"))
    for (owner_kind, owner_id, period), services in sorted(needed.items()):
        owner: Team | Domain
        index, owner = teams[owner_id] if owner_kind == "team" else domains[owner_id]
        where = f"{'teams' if owner_kind == 'team' else 'domains'}[{index}].members"
        members = [m.lower() for m in owner.members]
        if not members:
            article = "an" if period == "out-of-hours" else "a"
            state.problems.append(f"{where}: {owner_kind} {owner_id!r} needs {article} {period} rota "
                                  f"(for {', '.join(services)}) but has no members; list the PagerDuty users' "
                                  "emails, e.g. members: [asha.patel@example.com]")
            continue
        unknown = [m for m in members if m not in known_emails]
        if unknown:
            state.problems.append(f"{where}: no PagerDuty user has the email {', '.join(unknown)}; add them to "
                                  "PagerDuty or fix the spelling")
            continue
        standing, rota = _rotas_for(catalogue, owner_kind, owner_id, period)
        key = _schedule_key(owner_kind, owner_id, period)
        try:
            state.resources.append(_schedule(key, owner.name, owner_kind, period, members, rota,
                                             source=where.replace(".members", ".name")))
        except ZoneInfoNotFoundError:
            where = f"rotas[{catalogue.rotas.index(rota)}].time_zone" if rota else "time zone"
            state.problems.append(f"{where}: {rota.time_zone if rota else ''!r} is not a time zone; use an IANA name "
                                  "such as Europe/London")
            continue
        for rota_index in standing:
            state.rota_schedules.setdefault(rota_index, []).append(key)
    for keys in state.rota_schedules.values():
        keys.sort(key=lambda k: not k.endswith("/working-hours"))  # working hours first, as people read a day
    schedules = {r.key for r in state.resources if r.kind == "schedule"}
    for (team_id, band), (first_rule, indexes) in sorted(policies.items()):
        team_index, team = teams[team_id]
        key = f"escalation_policy/{team_id}/{band.lower()}"
        first = tuple(k for k in first_rule if k in schedules)
        rules: list[tuple[int, tuple[str, ...]]] = [(ESCALATION_DELAY_MINUTES, first)] if first else []
        if incident_manager:
            rules.append((ESCALATION_DELAY_MINUTES, incident_manager))
        if not rules:
            state.problems.append(f"escalation policy for team {team_id!r} (band {band}): nobody to page — the band "
                                  "names no rota and the catalogue sets no incident_manager.escalation_policy_id")
            continue
        name = f"{team.name} ({band} exposure)"
        state.resources.append(Resource(key, "escalation_policy", name, {
            "name": name, "description": f"{team.name}, {band} exposure band: the band's rotas, then the incident "
                                         f"manager {tag(key)}",
            "rules": tuple(rules), "team": f"team/{team_id}",
        }, source=f"teams[{team_index}].name"))
        for index in indexes:
            state.resources.extend(_service_resources(catalogue.services[index], key, bot_url, f"services[{index}]"))
            state.service_keys[index] = f"service/{catalogue.services[index].id}"
    return state


def _service_resources(service: Service, policy_key: str, bot_url: str, where: str) -> list[Resource]:
    key, hook = f"service/{service.id}", f"webhook_subscription/{service.id}"
    return [
        Resource(key, "service", service.name, {
            "name": service.name, "description": f"{service.name} {tag(key)}", "escalation_policy": policy_key,
        }, catalogue_id=service.pagerduty_service_id, source=f"{where}.name"),
        Resource(hook, "webhook_subscription", f"{service.name} → Paved Road", {
            "url": bot_url.rstrip("/") + WEBHOOK_PATH, "events": WEBHOOK_EVENTS, "filter": key, "active": True,
            "description": f"{service.name} incidents to the Paved Road bot {tag(hook)}",
        }, source=f"{where}.name"),
    ]


def _schedule_key(owner_kind: str, owner_id: str, period: Period) -> str:
    return f"schedule/{owner_kind}/{owner_id}/{period}"


def _rotas_for(catalogue: Catalogue, owner_kind: str, owner_id: str,
               period: Period) -> tuple[list[int], Rota | None]:
    """The catalogue rotas (indexes) that hand this schedule over, and the rota whose working hours and time zone
    shape it. Each of the owner's rotas hands over its working-hours schedule, and its out-of-hours schedule too
    unless the rota has no out-of-hours on-call (`out_of_hours: false`); the owner's first rota shapes both."""
    candidates = [(i, r) for i, r in enumerate(catalogue.rotas)
                  if (r.team if owner_kind == "team" else r.domain) == owner_id]
    standing = [i for i, r in candidates if period == "working-hours" or r.out_of_hours]
    return standing, candidates[0][1] if candidates else None


def working_hours_of(catalogue: Catalogue, owner_kind: str, owner_id: str) -> tuple[str, str, str, int | None]:
    """What shapes a team's (domain's) schedules: time zone, start, end, and the rota they come from (its index; None
    when the owner has no rota and the defaults apply)."""
    _, rota = _rotas_for(catalogue, owner_kind, owner_id, "working-hours")
    if rota is None:
        return _DEFAULT_ZONE, *_DEFAULT_HOURS, None
    return rota.time_zone, *rota.working_hours, catalogue.rotas.index(rota)


def _schedule(key: str, owner_name: str, owner_kind: str, period: Period, members: list[str],
              rota: Rota | None, *, source: str) -> Resource:
    zone = rota.time_zone if rota else _DEFAULT_ZONE
    start, end = rota.working_hours if rota else _DEFAULT_HOURS
    day_minutes = _minutes(end) - _minutes(start)
    if period == "working-hours":
        # Monday to Friday, start to end.
        restrictions = tuple(("weekly_restriction", f"{start}:00", day_minutes * 60, day) for day in range(1, 6))
        layer_start = start
    else:
        # The rest of the week: each weekday evening to the next morning, and Friday evening to Monday morning.
        night = (24 * 60 - day_minutes) * 60
        restrictions = tuple(("weekly_restriction", f"{end}:00", night + (2 * 86400 if day == 5 else 0), day)
                             for day in range(1, 6))
        layer_start = end
    hour, minute = (int(p) for p in layer_start.split(":"))
    moment = datetime(*_LAYER_EPOCH, hour, minute, tzinfo=ZoneInfo(zone)).isoformat()
    label = "working hours" if period == "working-hours" else "out of hours"
    scope = "" if owner_kind == "team" else " (product domain)"
    name = f"{owner_name}{scope} {label}"
    return Resource(key, "schedule", name, {
        "name": name, "description": f"{owner_name}{scope}: {label} on-call {tag(key)}", "time_zone": zone,
        "layers": 1, "layer": label.capitalize(), "members": tuple(f"user/{m}" for m in members),
        "turn_seconds": WEEK_SECONDS, "hours": hours(restrictions),
    }, layer_start=moment, restrictions=restrictions, source=source)


def hours(restrictions: tuple[RestrictionSpec, ...]) -> tuple[str, ...]:
    """Restrictions, readable and comparable: ("Mon 09:00 for 8h30m", ...); none means all the time."""
    shown = []
    for kind, start, seconds, day in restrictions:
        minutes = seconds // 60
        when = "daily" if kind == "daily_restriction" else _DAYS[(day or 1) - 1]
        shown.append(f"{when} {start[:5]} for {minutes // 60}h{minutes % 60:02d}m")
    return tuple(shown) or ("all the time",)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)
