"""The PagerDuty emulator's configuration API: teams, escalation policies, services, schedules and v3 webhook
subscriptions written through REST, as `pavedroad provision` (and any PagerDuty-as-code tool) writes them.

Owns the write side of those resources and PagerDuty's rules about them: names are unique per kind ("Name has
already been taken"), references must exist, an escalation policy in use by a service cannot be deleted, nor a
schedule an escalation policy targets, and a webhook subscription's secret is shown only in the answer that
created it. Request shapes are checked against the OpenAPI description by the emulator before a handler runs; the
handlers check what the description cannot (references, uniqueness). State lives in `model.Account`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.pagerduty.basics import Json, PagerDutyError, invalid, not_found, random_id
from sandbox.pagerduty.model import Account, Policy, Rule, Service, Team
from sandbox.pagerduty.rest import Call, Handler, page, wrapped
from sandbox.pagerduty.schedules import Layer, Schedule, parse_time, restriction
from sandbox.pagerduty.shapes import Shapes, schedule_json


@dataclass
class WebhookSubscription:
    id: str
    url: str
    secret: str
    description: str
    events: list[str]
    filter_type: str
    filter_id: str | None
    active: bool = True


class PagerDutyAdmin:
    """The configuration endpoints; `routes()` is what the emulator adds to its route table."""

    def __init__(self, account: Account, shapes: Shapes) -> None:
        self.account, self.shapes = account, shapes
        self.webhook_subscriptions: dict[str, WebhookSubscription] = {}

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/teams", self._list_teams),
            ("POST", "/teams", self._create_team),
            ("GET", "/teams/{id}", self._get_team),
            ("PUT", "/teams/{id}", self._update_team),
            ("DELETE", "/teams/{id}", self._delete_team),
            ("POST", "/escalation_policies", self._create_policy),
            ("PUT", "/escalation_policies/{id}", self._update_policy),
            ("DELETE", "/escalation_policies/{id}", self._delete_policy),
            ("POST", "/services", self._create_service),
            ("PUT", "/services/{id}", self._update_service),
            ("DELETE", "/services/{id}", self._delete_service),
            ("POST", "/schedules", self._create_schedule),
            ("PUT", "/schedules/{id}", self._update_schedule),
            ("DELETE", "/schedules/{id}", self._delete_schedule),
            ("GET", "/webhook_subscriptions", self._list_subscriptions),
            ("POST", "/webhook_subscriptions", self._create_subscription),
            ("GET", "/webhook_subscriptions/{id}", self._get_subscription),
            ("PUT", "/webhook_subscriptions/{id}", self._update_subscription),
            ("DELETE", "/webhook_subscriptions/{id}", self._delete_subscription),
        ]

    # ---- teams ---------------------------------------------------------------------------------------------

    def team(self, team: Team) -> Json:
        return self.shapes.team_ref(team.id) | {"type": "team", "name": team.name, "description": team.description,
                                                 "default_role": "manager", "parent": None}

    def _list_teams(self, call: Call) -> tuple[int, Json]:
        query = call.query.get("query", "").lower()
        teams = [t for t in self.account.teams.values() if query in t.name.lower()]
        return 200, page(call, "teams", [self.team(t) for t in teams])

    def _get_team(self, call: Call) -> tuple[int, Json]:
        return 200, {"team": self.team(self._find_team(call.params["id"]))}

    def _create_team(self, call: Call) -> tuple[int, Json]:
        body = wrapped(call, "team")
        name = str(body["name"])
        _unique(name, (t.name for t in self.account.teams.values()))
        team = Team(random_id("P", 6), name, str(body.get("description") or ""))
        self.account.teams[team.id] = team
        return 201, {"team": self.team(team)}

    def _update_team(self, call: Call) -> tuple[int, Json]:
        team, body = self._find_team(call.params["id"]), wrapped(call, "team")
        if body.get("name") is not None and body["name"] != team.name:
            _unique(str(body["name"]), (t.name for t in self.account.teams.values() if t is not team))
            team.name = str(body["name"])
        if "description" in body:
            team.description = str(body.get("description") or "")
        return 200, {"team": self.team(team)}

    def _delete_team(self, call: Call) -> tuple[int, Json]:
        team = self._find_team(call.params["id"])
        # PagerDuty unassigns the team's escalation policies (and so its services) rather than deleting them.
        for policy in self.account.policies.values():
            policy.team_ids = [t for t in policy.team_ids if t != team.id]
        del self.account.teams[team.id]
        return 204, {}

    def _find_team(self, team_id: str) -> Team:
        team = self.account.teams.get(team_id)
        if team is None:
            raise not_found(f"Team {team_id}")
        return team

    # ---- escalation policies -------------------------------------------------------------------------------

    def _create_policy(self, call: Call) -> tuple[int, Json]:
        body = wrapped(call, "escalation_policy")
        name = str(body["name"])
        _unique(name, (p.name for p in self.account.policies.values()))
        rules = self._rules(body.get("escalation_rules"))
        policy = Policy(random_id("P", 6), name, _direct_users(rules), rules, str(body.get("description") or ""),
                        self._team_ids(body.get("teams")))
        self.account.policies[policy.id] = policy
        return 201, {"escalation_policy": self.shapes.policy(policy)}

    def _update_policy(self, call: Call) -> tuple[int, Json]:
        policy, body = self._find_policy(call.params["id"]), wrapped(call, "escalation_policy")
        # Read every part before changing anything: a refused update leaves the policy as it was.
        rules = self._rules(body["escalation_rules"]) if "escalation_rules" in body else None
        teams = self._team_ids(body["teams"]) if "teams" in body else None
        if body.get("name") is not None and body["name"] != policy.name:
            _unique(str(body["name"]), (p.name for p in self.account.policies.values() if p is not policy))
            policy.name = str(body["name"])
        if "description" in body:
            policy.description = str(body.get("description") or "")
        if rules is not None:
            policy.rules, policy.on_call = rules, _direct_users(rules)
        if teams is not None:
            policy.team_ids = teams
        return 200, {"escalation_policy": self.shapes.policy(policy)}

    def _delete_policy(self, call: Call) -> tuple[int, Json]:
        policy = self._find_policy(call.params["id"])
        users = [s.name for s in self.account.services.values() if s.policy_id == policy.id]
        if users:
            raise PagerDutyError(400, 2001, "Invalid Input Provided",
                                 [f"This escalation policy is in use by services: {', '.join(users)}"])
        del self.account.policies[policy.id]
        return 204, {}

    def _find_policy(self, policy_id: str) -> Policy:
        policy = self.account.policies.get(policy_id)
        if policy is None:
            raise not_found(f"Escalation policy {policy_id}")
        return policy

    def _rules(self, value: object) -> list[Rule]:
        if not isinstance(value, list) or not value:
            raise invalid("Escalation rules must have at least one rule")
        rules = []
        for n, rule in enumerate(value):
            targets = [(str(t.get("type")), str(t.get("id"))) for t in rule.get("targets") or []]
            for kind, id_ in targets:
                known = self.account.users if kind in ("user", "user_reference") else self.account.schedules \
                    if kind in ("schedule", "schedule_reference") else None
                if known is None:
                    raise invalid(f"escalation_rules[{n}]: target type {kind} is not supported by the sandbox")
                if id_ not in known:
                    raise invalid(f"escalation_rules[{n}]: {kind.removesuffix('_reference')} {id_} not found")
            rules.append(Rule(int(rule["escalation_delay_in_minutes"]),
                              [(k if k.endswith("_reference") else k + "_reference", i) for k, i in targets]))
        return rules

    def _team_ids(self, value: object) -> list[str]:
        ids = [str(t.get("id")) for t in value if isinstance(t, dict)] if isinstance(value, list) else []
        missing = [i for i in ids if i not in self.account.teams]
        if missing:
            raise invalid(*(f"Team {i} not found" for i in missing))
        if len(ids) > 1:
            raise invalid("Only one team may be associated with an escalation policy")
        return ids

    # ---- services ------------------------------------------------------------------------------------------

    def _create_service(self, call: Call) -> tuple[int, Json]:
        body = wrapped(call, "service")
        name = str(body.get("name") or "")
        if not name:
            raise invalid("Name cannot be empty")
        _unique(name, (s.name for s in self.account.services.values()))
        policy_id = self._policy_ref(body.get("escalation_policy"), required=True)
        service = Service(random_id("P", 6), name, policy_id, str(body.get("description") or ""))
        self.account.services[service.id] = service
        return 201, {"service": self.shapes.service(service)}

    def _update_service(self, call: Call) -> tuple[int, Json]:
        service, body = self._find_service(call.params["id"]), wrapped(call, "service")
        policy_id = self._policy_ref(body.get("escalation_policy"), required=False)
        if body.get("name") is not None and body["name"] != service.name:
            _unique(str(body["name"]), (s.name for s in self.account.services.values() if s is not service))
            service.name = str(body["name"])
        if "description" in body:
            service.description = str(body.get("description") or "")
        if policy_id is not None:
            service.policy_id = policy_id
        return 200, {"service": self.shapes.service(service)}

    def _delete_service(self, call: Call) -> tuple[int, Json]:
        service = self._find_service(call.params["id"])
        # Deleting a service deletes its incidents in PagerDuty; their notes and log go with them.
        gone = {i.id for i in self.account.incidents.values() if i.service_id == service.id}
        self.account.incidents = {k: v for k, v in self.account.incidents.items() if k not in gone}
        self.account.notes = [n for n in self.account.notes if n.incident_id not in gone]
        self.account.log_entries = [e for e in self.account.log_entries if e.incident_id not in gone]
        self.account.responder_requests = [r for r in self.account.responder_requests if r.incident_id not in gone]
        for subscription in [s for s in self.webhook_subscriptions.values() if s.filter_id == service.id]:
            del self.webhook_subscriptions[subscription.id]
        del self.account.services[service.id]
        return 204, {}

    def _find_service(self, service_id: str) -> Service:
        service = self.account.services.get(service_id)
        if service is None:
            raise not_found(f"Service {service_id}")
        return service

    def _policy_ref(self, value: object, *, required: bool) -> str | None:
        policy_id = str(value["id"]) if isinstance(value, dict) and value.get("id") else None
        if policy_id is None and required:
            raise invalid("Escalation policy must be specified")
        if policy_id is not None and policy_id not in self.account.policies:
            raise PagerDutyError(400, 2001, "Invalid Input Provided", [f"Escalation policy {policy_id} not found"])
        return policy_id

    # ---- schedules (the model, and GET, are schedules.py's and the emulator's) -----------------------------

    def schedule(self, schedule: Schedule) -> Json:
        return schedule_json(schedule, self.shapes, None, None)

    def _create_schedule(self, call: Call) -> tuple[int, Json]:
        body = wrapped(call, "schedule")
        schedule = Schedule(random_id("P", 6), str(body.get("name") or ""), self._zone(body.get("time_zone")),
                            self._layers(body.get("schedule_layers")), str(body.get("description") or ""))
        self.account.schedules[schedule.id] = schedule
        return 201, {"schedule": self.schedule(schedule)}

    def _update_schedule(self, call: Call) -> tuple[int, Json]:
        schedule, body = self._find_schedule(call.params["id"]), wrapped(call, "schedule")
        layers = self._layers(body["schedule_layers"]) if "schedule_layers" in body else None
        zone = self._zone(body["time_zone"]) if body.get("time_zone") is not None else None
        if body.get("name") is not None:
            schedule.name = str(body["name"])
        if body.get("description") is not None:
            schedule.description = str(body["description"])
        if zone is not None:
            schedule.time_zone = zone
        if layers is not None:
            schedule.layers = self._merged_layers(schedule.layers, layers)
        return 200, {"schedule": self.schedule(schedule)}

    def _merged_layers(self, current: list[Layer], given: list[Layer]) -> list[Layer]:
        """PagerDuty's update of a schedule's layers: a given layer with an existing layer's id replaces it; one
        without an id is new; an existing layer left out is not removed but ended now (it stays, with its `end`)."""
        now = self.account.now()
        kept_ids = {layer.id for layer in given} & {layer.id for layer in current}
        ended = [layer if layer.end is not None and layer.end <= now else replace(layer, end=now)
                 for layer in current if layer.id not in kept_ids]
        return ended + given

    def _delete_schedule(self, call: Call) -> tuple[int, Json]:
        schedule = self._find_schedule(call.params["id"])
        policies = self._policies_targeting(schedule.id)
        if policies:
            raise invalid(f"Schedule is in use by escalation policies: {', '.join(p.name for p in policies)}")
        del self.account.schedules[schedule.id]
        return 204, {}

    def _find_schedule(self, schedule_id: str) -> Schedule:
        schedule = self.account.schedules.get(schedule_id)
        if schedule is None:
            raise not_found(f"Schedule {schedule_id}")
        return schedule

    def _policies_targeting(self, schedule_id: str) -> list[Policy]:
        return [p for p in self.account.policies.values()
                if any(("schedule_reference", schedule_id) in r.targets for r in p.rules or [])]

    @staticmethod
    def _zone(value: object) -> str:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(f"time_zone {value!r} is not a time zone") from None
        return str(value)

    def _layers(self, value: object) -> list[Layer]:
        if not isinstance(value, list) or not value:
            raise invalid("Schedule must have at least one schedule layer")
        layers: list[Layer] = []
        for n, layer in enumerate(value):
            users = [str(u["user"].get("id")) for u in layer.get("users") or []]
            if not users:
                raise invalid(f"schedule_layers[{n}]: a layer needs at least one user")
            missing = [u for u in users if u not in self.account.users]
            if missing:
                raise invalid(*(f"schedule_layers[{n}]: user {m} not found" for m in missing))
            for key in ("start", "rotation_virtual_start", "rotation_turn_length_seconds"):
                if layer.get(key) is None:
                    raise invalid(f"schedule_layers[{n}].{key} is required")
            if int(layer["rotation_turn_length_seconds"]) <= 0:
                raise invalid(f"schedule_layers[{n}].rotation_turn_length_seconds must be positive")
            try:
                layers.append(Layer(
                    name=str(layer.get("name") or f"Layer {n + 1}"), start=parse_time(layer["start"]),
                    rotation_virtual_start=parse_time(layer["rotation_virtual_start"]),
                    turn=timedelta(seconds=int(layer["rotation_turn_length_seconds"])), user_ids=tuple(users),
                    restrictions=tuple(restriction(r["type"], r["start_time_of_day"], int(r["duration_seconds"]),
                                                   r.get("start_day_of_week"))
                                       for r in layer.get("restrictions") or []),
                    end=parse_time(layer["end"]) if layer.get("end") else None,
                    id=str(layer["id"]) if layer.get("id") else random_id("P", 7)))
            except ValueError as error:
                raise invalid(f"schedule_layers[{n}]: {error}") from None
        return layers

    # ---- webhook subscriptions -----------------------------------------------------------------------------

    def subscription(self, subscription: WebhookSubscription, *, with_secret: bool = False) -> Json:
        return {
            "id": subscription.id, "type": "webhook_subscription", "active": subscription.active,
            "delivery_method": {"id": subscription.id + "D", "secret": subscription.secret if with_secret else None,
                                "temporarily_disabled": False, "type": "http_delivery_method",
                                "url": subscription.url, "custom_headers": []},
            "description": subscription.description, "events": list(subscription.events),
            "filter": {"id": subscription.filter_id, "type": subscription.filter_type},
        }

    def _list_subscriptions(self, call: Call) -> tuple[int, Json]:
        kind, filter_id = call.query.get("filter_type"), call.query.get("filter_id")
        found = [s for s in self.webhook_subscriptions.values()
                 if (kind is None or s.filter_type == f"{kind}_reference")
                 and (filter_id is None or s.filter_id == filter_id)]
        return 200, page(call, "webhook_subscriptions", [self.subscription(s) for s in found])

    def _get_subscription(self, call: Call) -> tuple[int, Json]:
        return 200, {"webhook_subscription": self.subscription(self._find_subscription(call.params["id"]))}

    def _create_subscription(self, call: Call) -> tuple[int, Json]:
        body = wrapped(call, "webhook_subscription")
        url = str(body["delivery_method"].get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise invalid("delivery_method.url must be an http(s) URL")
        filter_type, filter_id = self._filter(body["filter"])
        subscription = WebhookSubscription(random_id("P", 7), url, secrets.token_urlsafe(24),
                                           str(body.get("description") or ""), list(body["events"]), filter_type,
                                           filter_id, bool(body.get("active", True)))
        self.webhook_subscriptions[subscription.id] = subscription
        # The secret that signs deliveries is in this answer only, as in PagerDuty.
        return 200, {"webhook_subscription": self.subscription(subscription, with_secret=True)}

    def _update_subscription(self, call: Call) -> tuple[int, Json]:
        subscription, body = self._find_subscription(call.params["id"]), wrapped(call, "webhook_subscription")
        if "filter" in body:
            subscription.filter_type, subscription.filter_id = self._filter(body["filter"])
        for key in ("description", "events", "active"):
            if key in body:
                setattr(subscription, key, body[key])
        return 200, {"webhook_subscription": self.subscription(subscription)}

    def _delete_subscription(self, call: Call) -> tuple[int, Json]:
        del self.webhook_subscriptions[self._find_subscription(call.params["id"]).id]
        return 204, {}

    def _find_subscription(self, subscription_id: str) -> WebhookSubscription:
        subscription = self.webhook_subscriptions.get(subscription_id)
        if subscription is None:
            raise not_found(f"Webhook subscription {subscription_id}")
        return subscription

    def _filter(self, value: Any) -> tuple[str, str | None]:
        kind, filter_id = str(value.get("type")), value.get("id")
        if kind != "account_reference" and not filter_id:
            raise invalid(f"filter.id is required for filter type {kind}")
        known = set(self.account.services) if kind == "service_reference" else \
            set(self.account.teams) if kind == "team_reference" else None
        if known is not None and filter_id not in known:
            raise invalid(f"filter: {kind.removesuffix('_reference')} {filter_id} not found")
        return kind, str(filter_id) if filter_id else None


def _unique(name: str, taken: Any) -> None:
    # `taken` leaves out the resource being renamed: a new case of its own name ("basket" → "Basket") is no clash.
    if any(name.lower() == other.lower() for other in taken):
        raise invalid("Name has already been taken")


def _direct_users(rules: list[Rule]) -> list[str]:
    """Who a new incident is assigned to without a schedule model: the users the first rule targets directly."""
    return [id_ for kind, id_ in rules[0].targets if kind == "user_reference"] if rules else []
