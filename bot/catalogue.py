"""The platform catalogue: teams, product domains, services, channel policy and the sandbox's seed organisation.

Loaded from one YAML file and validated with pydantic so that every problem names its field (`services[2].team`)
and says how to fix it. Pure data: no I/O beyond reading the file in `load_catalogue`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_EXPOSURE = re.compile(
    r"^\s*(?P<currency>[£$€]?)\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[KkMm]?)\s+in\s+"
    r"(?P<window>\d+(?:\.\d+)?)\s*(?P<wunit>h|m|min|mins|hours?|minutes?)\s*$"
)


class Exposure(BaseModel):
    """A service's maximum financial exposure: at most `amount` lost within `window_minutes` of downtime."""

    model_config = ConfigDict(frozen=True)
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
        return cls(currency=match["currency"] or "£", amount=float(match["amount"]) * multiplier,
                   window_minutes=window)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelPolicy(_Model):
    pattern: str = "inc-{number}-{slug}"
    default_announce_channel: str = "incidents"
    operators_channel: str = "paved-road-ops"
    dedicated_channel_for: Literal["all", "high_urgency"] | list[str] = "all"

    @field_validator("pattern")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        unknown = set(re.findall(r"{(\w*)}", value)) - {"number", "slug", "service", "id"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; use {{number}}, {{slug}}, {{service}} or {{id}}")
        return value


class IncidentManager(_Model):
    escalation_policy_id: str


Who = Literal["anyone", "responders"]


class Permissions(_Model):
    """Who may do what from Slack: `anyone` in the workspace (who has a PagerDuty account), or only `responders`
    (the incident's assignees and whoever is on call for the incident-manager rota)."""

    acknowledge: Who = "anyone"
    note: Who = "anyone"
    page: Who = "anyone"
    resolve: Who = "anyone"


class Domain(_Model):
    id: str
    name: str
    slack_channel: str | None = None


class Team(_Model):
    id: str
    name: str
    domain: str | None = None
    slack_channel: str | None = None
    # The ServiceNow assignment group whose tickets page this team (and that the team's incidents' tickets get).
    servicenow_group: str | None = None


class ImpactUrgency(_Model):
    impact: Literal["1", "2", "3"]
    urgency: Literal["1", "2", "3"]


class ServiceNowSync(_Model):
    """How incidents become ServiceNow tickets, and tickets page teams."""

    caller: str = "pavedroad.integration"
    work_note_minutes: float = Field(default=5, gt=0)
    close_code: str = "Solved (Permanently)"
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
        return (self.priority.get(priority or "") or self.urgency.get(urgency)
                or ImpactUrgency(impact="2", urgency="2"))


class Service(_Model):
    id: str
    name: str
    pagerduty_service_id: str
    team: str
    exposure: Exposure | None = None

    @field_validator("exposure", mode="before")
    @classmethod
    def _parse_exposure(cls, value: object) -> object:
        return Exposure.parse(value) if isinstance(value, str) else value


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


class SandboxSeed(_Model):
    people: list[SandboxPerson] = Field(default_factory=list)
    escalation_policies: list[SandboxEscalationPolicy] = Field(default_factory=list)


class Catalogue(_Model):
    channels: ChannelPolicy = ChannelPolicy()
    incident_manager: IncidentManager | None = None
    permissions: Permissions = Permissions()
    servicenow: ServiceNowSync = ServiceNowSync()
    domains: list[Domain] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    sandbox: SandboxSeed | None = None

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
        seen: set[str] = set()
        for i, s in enumerate(self.services):
            if s.pagerduty_service_id in seen:
                problems.append(f"services[{i}].pagerduty_service_id: {s.pagerduty_service_id!r} is listed twice; "
                                "each PagerDuty service belongs to one catalogue service")
            seen.add(s.pagerduty_service_id)
        if problems:
            raise ValueError("; ".join(problems))
        return self

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

    def announce_channel_for(self, pagerduty_service_id: str) -> str:
        """The owning team's channel for a PagerDuty service, or the default announce channel."""
        service = self.service_by_pagerduty_id(pagerduty_service_id)
        team = self.team(service.team) if service else None
        return (team.slack_channel if team and team.slack_channel else None) or self.channels.default_announce_channel


class CatalogueError(Exception):
    """The catalogue file is missing or invalid; `problems` lists each one as 'field: what is wrong and the fix'."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def parse_catalogue(data: object, path: Path) -> Catalogue:
    try:
        return Catalogue.model_validate(data or {})
    except ValidationError as error:
        raise CatalogueError(path, [_describe(e) for e in error.errors()]) from None


def load_catalogue(path: Path) -> Catalogue:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(path, ["file not found: set CATALOGUE_PATH to your catalogue YAML file"]) from None
    except yaml.YAMLError as error:
        raise CatalogueError(path, [f"not valid YAML: {error}"]) from None
    return parse_catalogue(data, path)


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field; remove it or check the spelling against the README's catalogue reference"
    elif error["type"] == "missing":
        message = "required field is missing"
    return f"{location or 'catalogue'}: {message}"


def example_catalogue_path() -> Path:
    """The bundled example catalogue, which is also the sandbox's organisation."""
    return Path(__file__).parent / "sandbox" / "catalogue.yml"
