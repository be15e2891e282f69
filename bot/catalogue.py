"""The platform catalogue: teams, product domains, services, channel policy and the sandbox's seed organisation
(the incident-response sections — roles, status updates, timeline, review, retention — are in
bot/catalogue_response.py).

Loaded from one YAML file and validated with pydantic so that every problem names its field (`services[2].team`)
and says how to fix it. Pure data: no I/O beyond reading the file in `load_catalogue` (bot/catalogue_file.py reads
it, with any file it `extends`).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot import catalogue_response
from bot.catalogue_file import CatalogueError as CatalogueError
from bot.catalogue_file import Problems, listed_twice, read_catalogue_file
from bot.catalogue_file import example_catalogue_path as example_catalogue_path
from bot.catalogue_file import seed_catalogue_path as seed_catalogue_path
from bot.catalogue_response import DEFAULT_ROLES, ReviewPolicy, Section, StatusUpdates, TimelinePolicy, check_roles
from bot.catalogue_response import Permissions as Permissions
from bot.catalogue_response import Who as Who
from bot.catalogue_servicenow import ServiceNowSync
from bot.domain.archive_delay import archive_delay
from bot.domain.exposure import Band, BandMatch, Level, band_order_problems, match_band

_EXPOSURE = re.compile(
    r"^\s*(?P<currency>[£$€]?)\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[KkMm]?)\s+in\s+"
    r"(?P<window>\d+(?:\.\d+)?)\s*(?P<wunit>h|m|min|mins|hours?|minutes?)\s*$"
)


class Exposure(BaseModel):
    """A service's maximum financial exposure: at most `amount` lost within `window_minutes` of downtime.
    `currency` is "" when the text gives none: the catalogue's one currency (`Catalogue.currency`) applies."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    currency: str
    amount: float
    window_minutes: float

    @classmethod
    def parse(cls, text: str) -> Exposure:
        match = _EXPOSURE.match(text)
        if not match:
            raise ValueError(f"cannot read exposure {text!r}: write it like '£500K in 4h' or '£750K in 45m'")
        multiplier = {"": 1, "k": 1_000, "m": 1_000_000}[match["unit"].lower()]
        window = float(match["window"]) * (60 if match["wunit"].startswith("h") else 1)
        if window <= 0:
            raise ValueError(f"exposure {text!r} has no window: the time must be longer than zero, e.g. '£500K in 4h'")
        return cls(currency=match["currency"], amount=float(match["amount"]) * multiplier,
                   window_minutes=window)


_Model = Section  # every section refuses unknown keys (bot/catalogue_response.py)


class ExposureBand(_Model):
    """A financial exposure band (see `bot/domain/exposure.py` for how services are matched to bands)."""

    name: str
    max_exposure: Exposure
    availability: float = Field(gt=0, lt=100)
    working_hours: Level
    out_of_hours: Level

    @field_validator("max_exposure", mode="before")
    @classmethod
    def _parse_exposure(cls, value: object) -> object:
        return Exposure.parse(value) if isinstance(value, str) else value

    def band(self) -> Band:
        return Band(self.name, self.max_exposure.amount, self.max_exposure.window_minutes, self.availability,
                    self.working_hours, self.out_of_hours)


def _seed_bands() -> list[ExposureBand]:
    """The operating model's example bands."""
    return [
        ExposureBand(name="Low", max_exposure=Exposure.parse("£50K in 7h"), availability=99.0,
                     working_hours="team", out_of_hours="none"),
        ExposureBand(name="Medium", max_exposure=Exposure.parse("£500K in 4h"), availability=99.5,
                     working_hours="team", out_of_hours="domain"),
        ExposureBand(name="High", max_exposure=Exposure.parse("£750K in 45m"), availability=99.9,
                     working_hours="team", out_of_hours="team"),
    ]


class ChannelPolicy(_Model):
    pattern: str = "inc-{number}-{slug}"
    default_announce_channel: catalogue_response.SlackChannel = "incidents"
    operators_channel: catalogue_response.SlackChannel = "paved-road-ops"
    # Where status updates for stakeholders go (a product domain's `stakeholders_channel` wins for its services).
    stakeholders: catalogue_response.SlackChannel = "incident-updates"
    dedicated_channel_for: catalogue_response.DedicatedFor = "all"
    # How long after its resolution a resolved incident's channel is archived ("7d", "36h", "never").
    archive_after: str = "7d"

    @field_validator("archive_after")
    @classmethod
    def _delay(cls, value: str) -> str:
        archive_delay(value)  # raises ValueError saying how to write it
        return value

    @field_validator("pattern")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        unknown = set(re.findall(r"{(\w*)}", value)) - {"number", "slug", "service", "id"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; use {{number}}, {{slug}}, {{service}} or {{id}}")
        return value


class IncidentManager(_Model):
    escalation_policy_id: catalogue_response.EscalationPolicyId


class Domain(_Model):
    id: str
    name: str
    slack_channel: catalogue_response.SlackChannel | None = None
    # The stakeholders' channel for this domain's incidents' status updates (default: `channels.stakeholders`).
    stakeholders_channel: catalogue_response.SlackChannel | None = None
    # PagerDuty users (emails) on the product-domain rota that `pavedroad provision` creates when a band needs one.
    members: list[str] = Field(default_factory=list)


class Team(_Model):
    id: str
    name: str
    domain: str | None = None
    slack_channel: catalogue_response.SlackChannel | None = None
    # The ServiceNow assignment group whose tickets page this team (and that the team's incidents' tickets get).
    servicenow_group: str | None = None
    # PagerDuty users (emails) on the team rota(s) that `pavedroad provision` creates when a band needs them.
    members: list[str] = Field(default_factory=list)


class Service(_Model):
    id: str
    name: str
    pagerduty_service_id: catalogue_response.ServiceId
    team: str
    exposure: Exposure | None = None
    # Who runs it: "product teams", "operations" (a managed service) or another model's name; unset, it is run by
    # product teams from `reports.teams_from` and by operations before (`pavedroad report --by model`).
    operating_model: str | None = None

    @field_validator("exposure", mode="before")
    @classmethod
    def _parse_exposure(cls, value: object) -> object:
        return Exposure.parse(value) if isinstance(value, str) else value


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Rota(_Model):
    """An on-call rota: PagerDuty schedule(s) whose shift changes are handed over in a Slack channel.

    One schedule (`pagerduty_schedule_id`) or several (`pagerduty_schedule_ids`, e.g. a team's working-hours and
    out-of-hours schedules as `pavedroad provision` creates them): whoever any of them puts on call is on call.

    A team rota covers one team's services (`team`); a product-domain rota covers every service of the domain's
    teams (`domain`) — e.g. one person a night for several teams. Handover times are cron expressions
    ("MINUTE HOUR * * DAYS", see `bot/domain/handover.py`) read in `time_zone`; `working_hours` says which
    pages count as out of hours; `out_of_hours: false` (a rota with no out-of-hours on-call) posts no handover
    at a boundary that starts an out-of-hours shift."""

    id: str
    name: str
    pagerduty_schedule_id: catalogue_response.ScheduleId | None = None
    pagerduty_schedule_ids: list[catalogue_response.ScheduleId] = Field(default_factory=list)
    slack_channel: catalogue_response.SlackChannel
    team: str | None = None
    domain: str | None = None
    handovers: list[str] = Field(default_factory=lambda: ["0 9 * * mon-fri", "30 17 * * mon-fri"])
    time_zone: str = "Europe/London"
    working_hours: tuple[str, str] = ("09:00", "17:30")
    out_of_hours: bool = True

    @field_validator("working_hours")
    @classmethod
    def _clock_times(cls, value: tuple[str, str]) -> tuple[str, str]:
        if not all(_CLOCK.match(v) for v in value) or value[0] >= value[1]:
            raise ValueError(f"{list(value)} is not [start, end] as HH:MM with start before end, e.g. "
                             "['09:00', '17:30']")
        return value

    @model_validator(mode="after")
    def _handovers_valid(self) -> Rota:
        from bot.domain.handover_times import HandoverTimes  # the domain owns the cron subset and its error messages

        if (self.team is None) == (self.domain is None):
            raise ValueError(f"rota {self.id!r}: set exactly one of `team` (a team rota) or `domain` "
                             "(a product-domain rota)")
        HandoverTimes(tuple(self.handovers), self.time_zone)
        if not self.schedule_ids:
            raise ValueError(f"rota {self.id!r}: name its PagerDuty schedule: `pagerduty_schedule_id: P123ABC` (or "
                             "several: `pagerduty_schedule_ids: [P123ABC, P456DEF]`)")
        return self

    @property
    def schedule_ids(self) -> list[str]:
        return list(dict.fromkeys(([self.pagerduty_schedule_id] if self.pagerduty_schedule_id else [])
                                  + self.pagerduty_schedule_ids))


class SandboxPerson(_Model):
    name: str
    email: str
    slack: bool = True
    pagerduty: bool = True


class SandboxEscalationPolicy(_Model):
    id: str
    name: str
    on_call: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)


class SandboxRestriction(_Model):
    """A schedule layer's restriction, as PagerDuty's API writes it."""

    type: Literal["daily_restriction", "weekly_restriction"]
    start_time_of_day: str
    duration_seconds: int = Field(gt=0)
    start_day_of_week: int | None = Field(default=None, ge=1, le=7)


class SandboxLayer(_Model):
    """A schedule layer, as PagerDuty's API writes it; `users` are emails. Later layers take precedence."""

    name: str
    start: str
    rotation_virtual_start: str
    rotation_turn_length_seconds: int = Field(gt=0)
    users: list[str]
    restrictions: list[SandboxRestriction] = Field(default_factory=list)


class SandboxSchedule(_Model):
    id: str
    name: str
    time_zone: str = "Europe/London"
    layers: list[SandboxLayer]


class SandboxSeed(_Model):
    people: list[SandboxPerson] = Field(default_factory=list)
    escalation_policies: list[SandboxEscalationPolicy] = Field(default_factory=list)
    schedules: list[SandboxSchedule] = Field(default_factory=list)


class Reports(_Model):
    """Reports (`pavedroad report`, `/incident report`): `teams_from` is the date product teams began running their
    own services; grouped by period, incidents before it form the "operations" row."""

    teams_from: date | None = None


class Catalogue(_Model):
    channels: ChannelPolicy = ChannelPolicy()
    timeline: TimelinePolicy = TimelinePolicy()
    review: ReviewPolicy = ReviewPolicy()
    incident_manager: IncidentManager | None = None
    permissions: Permissions = Permissions()
    servicenow: ServiceNowSync = ServiceNowSync()
    domains: list[Domain] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    rotas: list[Rota] = Field(default_factory=list)
    # Least severe first; the default is the operating model's example.
    exposure_bands: list[ExposureBand] = Field(default_factory=_seed_bands, min_length=1)
    sandbox: SandboxSeed | None = None
    reports: Reports = Reports()
    # The incident roles `/incident role` assigns; whoever holds `commander` leads the incident.
    roles: list[str] = Field(default_factory=lambda: list(DEFAULT_ROLES), min_length=1)
    status_updates: StatusUpdates = StatusUpdates()
    retention: catalogue_response.RetentionPolicy = catalogue_response.RetentionPolicy()

    @field_validator("roles")
    @classmethod
    def _roles_named(cls, value: list[str]) -> list[str]:
        return check_roles(value)

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalogue:
        domains = {d.id for d in self.domains}
        teams = {t.id for t in self.teams}
        problems = [
            f"teams[{i}].domain: {t.domain!r} is not a domain id; add it under `domains:` or fix the spelling"
            for i, t in enumerate(self.teams) if t.domain and t.domain not in domains
        ] + [
            f"services[{i}].team: {s.team!r} is not a team id; add it under `teams:` or fix the spelling"
            for i, s in enumerate(self.services) if s.team not in teams
        ]
        problems += [
            f"rotas[{i}].team: {r.team!r} is not a team id; add it under `teams:` or fix the spelling"
            for i, r in enumerate(self.rotas) if r.team is not None and r.team not in teams
        ] + [
            f"rotas[{i}].domain: {r.domain!r} is not a domain id; add it under `domains:` or fix the spelling"
            for i, r in enumerate(self.rotas) if r.domain is not None and r.domain not in domains
        ]
        # Ids are keys (of PagerDuty resources, of rotas): a second one would silently take the first one's place.
        merged = "become one in PagerDuty, the second replacing the first: give each its own id"
        for field, values, why in (("domains.id", [d.id for d in self.domains], f"two domains with one id {merged}"),
                                   ("teams.id", [t.id for t in self.teams], f"two teams with one id {merged}"),
                                   ("services.id", [s.id for s in self.services], f"two services with one id {merged}"),
                                   ("rotas.id", [r.id for r in self.rotas], "rota ids must be unique"),
                                   ("services.pagerduty_service_id", [s.pagerduty_service_id for s in self.services],
                                    "each PagerDuty service belongs to one catalogue service")):
            problems += listed_twice(field, values, why)
        problems += band_order_problems([b.band() for b in self.exposure_bands])
        problems += self._currency_problems()
        if problems:
            raise Problems(problems)
        return self

    @property
    def currency(self) -> str:
        """The one currency of every exposure: the bands', else the services', else pounds."""
        given = [e.currency for e in self._exposures().values() if e.currency]
        return given[0] if given else "£"

    def _exposures(self) -> dict[str, Exposure]:
        """Every exposure in the catalogue by field (bands first)."""
        found = {f"exposure_bands[{i}].max_exposure": b.max_exposure for i, b in enumerate(self.exposure_bands)}
        found |= {f"services[{i}].exposure": s.exposure for i, s in enumerate(self.services) if s.exposure}
        return found

    def _currency_problems(self) -> list[str]:
        # Amounts are compared across bands and services: £500K and $500K are not the same exposure.
        currency = self.currency
        return [f"{field}: in {e.currency!r} but the catalogue's exposures are in {currency!r}; use one currency "
                f"across `exposure_bands` and services (a bare amount such as '500K in 4h' takes the catalogue's)"
                for field, e in self._exposures().items() if e.currency and e.currency != currency]

    def service_by_pagerduty_id(self, pagerduty_service_id: str) -> Service | None:
        return next((s for s in self.services if s.pagerduty_service_id == pagerduty_service_id), None)

    def team_for_group(self, group: str) -> Team | None:
        return next((t for t in self.teams if t.servicenow_group and t.servicenow_group.lower() == group.lower()),
                    None)

    def team_of_service(self, pagerduty_service_id: str) -> Team | None:
        service = self.service_by_pagerduty_id(pagerduty_service_id)
        return self.team(service.team) if service else None

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def band_of(self, service: Service) -> BandMatch | None:
        """The exposure band a service falls in; None when it declares no exposure."""
        if service.exposure is None:
            return None
        return match_band(service.exposure.amount, service.exposure.window_minutes,
                          [b.band() for b in self.exposure_bands])

    def rota(self, rota_id: str) -> Rota | None:
        return next((r for r in self.rotas if r.id == rota_id), None)

    def stakeholders_channel_for(self, pagerduty_service_id: str) -> str:
        """Where a status update about this PagerDuty service's incident goes: its product domain's
        `stakeholders_channel`, else `channels.stakeholders`."""
        team = self.team_of_service(pagerduty_service_id)
        domain = next((d for d in self.domains if team is not None and d.id == team.domain), None)
        return (domain.stakeholders_channel if domain else None) or self.channels.stakeholders

    def announce_channel_for(self, pagerduty_service_id: str) -> str:
        """The owning team's channel for a PagerDuty service, or the default announce channel."""
        service = self.service_by_pagerduty_id(pagerduty_service_id)
        team = self.team(service.team) if service else None
        return (team.slack_channel if team and team.slack_channel else None) or self.channels.default_announce_channel


def parse_catalogue(data: object, path: Path) -> Catalogue:
    try:
        return Catalogue.model_validate(data or {})
    except ValidationError as error:
        raise CatalogueError(path, [problem for e in error.errors() for problem in _describe(e)]) from None


def load_catalogue(path: Path) -> Catalogue:
    return parse_catalogue(read_catalogue_file(path), path)


def load_serving_catalogue(path: Path) -> Catalogue:
    """`load_catalogue` for a bot that will serve (serve, check-config, a reload): one listing no services (an empty
    file, or only comments: a ConfigMap key mounted empty) would run a bot that pages nobody, so it is a problem."""
    data = read_catalogue_file(path)
    catalogue = parse_catalogue(data, path)
    if not catalogue.services:
        raise CatalogueError(path, [
            "the file is empty (or only comments): a catalogue lists at least one service, with its team (services:,"
            " teams:, as in bot/example_catalogue.yml); check that the file, or the ConfigMap key mounted there, has"
            " the catalogue in it" if not data else
            "services: none listed: list at least one service (the services the bot pages and announces for, as in"
            " bot/example_catalogue.yml)"])
    return catalogue


def _describe(error: object) -> list[str]:
    assert isinstance(error, dict)
    location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    raised = error.get("ctx", {}).get("error")
    messages = [str(error["msg"]).removeprefix("Value error, ")]
    if isinstance(raised, Problems):  # found together by one check: one entry each, so the count printed is right
        messages = raised.problems
    elif error["type"] == "extra_forbidden":
        messages = ["unknown field; remove it or check the spelling against the README's catalogue reference"]
    elif error["type"] == "missing":
        messages = ["required field is missing"]
    elif error["type"] in ("bool_parsing", "bool_type"):  # pydantic's "unable to interpret input"
        messages = [f"{error['input']!r} is not true or false: write true or false"]
    return [f"{location}: {message}" if location else message for message in messages]
