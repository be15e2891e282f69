"""Performing a plan: each action in order, references resolved to the ids known by then, and an honest account of
what was done when PagerDuty stops us halfway.

Nothing is rolled back: every resource written is tagged, so the next `apply` re-reads PagerDuty, recognises what
this run made, and does only what is left (no duplicates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.errors import ProvisioningError
from bot.ports import Json, PagingAdmin
from bot.services.provisioning.desired import Resource
from bot.services.provisioning.plan import _SYMBOL, Action, Plan


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    error: ProvisioningError | None = None
    created: dict[str, str] = field(default_factory=dict)  # key → new PagerDuty id
    secrets: dict[str, str] = field(default_factory=dict)  # subscription key → its signing secret (shown once)
    on_secret: Callable[[str, str], None] | None = None


def apply_plan(plan: Plan, api: PagingAdmin, *, report: Callable[[str], None] = print,
               on_secret: Callable[[str, str], None] | None = None) -> Outcome:
    """Perform the plan's actions in order, stopping at the first failure. `on_secret(key, secret)` is called the
    moment a webhook subscription is created: PagerDuty shows its signing secret only in that answer, so it must be
    kept before anything else can fail."""
    outcome = Outcome(on_secret=on_secret)
    ids = dict(plan.ids)
    for index, action in enumerate(plan.actions):
        line = f"{_SYMBOL[action.op]} {action.kind} {action.name!r} [{action.key}]"
        try:
            new_id = _perform(action, api, ids, plan.emails, outcome)
        except ProvisioningError as error:
            outcome.error = error
            outcome.not_done = [f"{_SYMBOL[a.op]} {a.kind} {a.name!r} [{a.key}]" for a in plan.actions[index:]]
            return outcome
        if new_id is not None:
            ids[action.key] = outcome.created[action.key] = new_id
        outcome.done.append(f"{line} ({new_id or action.id})")
        report(f"  done: {outcome.done[-1]}")
    return outcome


def _perform(action: Action, api: PagingAdmin, ids: dict[str, str], emails: dict[str, str],
             outcome: Outcome) -> str | None:
    path = _PATHS[action.kind]
    if action.op == "delete":
        api.request("DELETE", f"{path}/{action.id}")
        return None
    resource = action.resource
    assert resource is not None
    body = _body(resource, ids, emails, update=action.op == "update")
    if action.op == "update" and action.kind == "schedule" and action.layer_id:
        body["schedule"]["schedule_layers"][0]["id"] = action.layer_id  # update the layer in force, not end it
    if action.op == "update":
        api.request("PUT", f"{path}/{action.id}", body=body)
        return None
    if action.op == "replace":
        api.request("DELETE", f"{path}/{action.id}")
    answer = api.request("POST", path, body=body)[action.kind]
    if action.kind == "webhook_subscription":
        secret = (answer.get("delivery_method") or {}).get("secret")
        if secret:
            outcome.secrets[action.key] = str(secret)
            if outcome.on_secret is not None:
                outcome.on_secret(action.key, str(secret))
    return str(answer["id"])


_PATHS = {"team": "/teams", "schedule": "/schedules", "escalation_policy": "/escalation_policies",
          "service": "/services", "webhook_subscription": "/webhook_subscriptions"}


def _body(resource: Resource, ids: dict[str, str], emails: dict[str, str], *, update: bool) -> Json:
    f = resource.fields

    def ref_id(key: object) -> str:
        text = str(key)
        if "#" in text:  # an unmanaged resource, named by id
            return text.split("#", 1)[1]
        if text.startswith("user/"):
            return emails[text.removeprefix("user/")]
        if text not in ids:
            raise ProvisioningError(f"{resource.key}: {text} has no PagerDuty id yet; run apply again")
        return ids[text]

    if resource.kind == "team":
        return {"team": {"type": "team", "name": f["name"], "description": f["description"]}}
    if resource.kind == "schedule":
        layers = [{
            "name": f["layer"], "start": resource.layer_start, "rotation_virtual_start": resource.layer_start,
            "rotation_turn_length_seconds": f["turn_seconds"],
            "users": [{"user": {"id": ref_id(u), "type": "user_reference"}} for u in f["members"]],  # type: ignore[attr-defined]
            "restrictions": [{"type": kind, "start_time_of_day": at, "duration_seconds": seconds}
                             | ({"start_day_of_week": day} if day else {})
                             for kind, at, seconds, day in resource.restrictions],
        }]
        return {"schedule": {"type": "schedule", "name": f["name"], "description": f["description"],
                             "time_zone": f["time_zone"], "schedule_layers": layers}}
    if resource.kind == "escalation_policy":
        rules = [{"escalation_delay_in_minutes": delay,
                  "targets": [{"id": ref_id(t), "type": "user_reference" if str(t).startswith("user/")
                               else "schedule_reference"} for t in targets]}
                 for delay, targets in f["rules"]]  # type: ignore[attr-defined]
        return {"escalation_policy": {
            "type": "escalation_policy", "name": f["name"], "description": f["description"], "num_loops": 0,
            "escalation_rules": rules, "teams": [{"id": ref_id(f["team"]), "type": "team_reference"}]}}
    if resource.kind == "service":
        return {"service": {"type": "service", "name": f["name"], "description": f["description"],
                            "escalation_policy": {"id": ref_id(f["escalation_policy"]),
                                                  "type": "escalation_policy_reference"}}}
    subscription: Json = {"description": f["description"], "events": list(f["events"]),  # type: ignore[call-overload]
                          "filter": {"id": ref_id(f["filter"]), "type": "service_reference"}, "active": f["active"]}
    if update:  # PagerDuty's update takes no delivery method (a new URL means a new subscription)
        return {"webhook_subscription": subscription}
    return {"webhook_subscription": {"type": "webhook_subscription", **subscription, "delivery_method": {
        "type": "http_delivery_method", "url": f["url"]}}}
