"""The plan: what PagerDuty holds (`Actual`), compared with what the catalogue wants, as ordered actions.

Owns reading PagerDuty's state, recognising the resources Paved Road manages (the `[pavedroad:<key>]` tag in a
description; a catalogue service's own PagerDuty id is adopted), the comparison field by field, the order (create and
update teams → schedules → policies → services → subscriptions, delete the other way round, and only with
`--prune`), and the Terraform-like rendering. `apply` performs a plan; a plan made again after a partial apply holds
exactly what is left.

What PagerDuty would refuse is found here, before anything is written, rather than halfway through apply: names
twice in one kind (whatever the case), a create or rename onto a name PagerDuty already has, a name longer than it
takes. A subscription whose signing secret nobody kept (its answer lost) is replaced, as apply cannot read it back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.catalogue import Catalogue
from bot.ports import Json, PagingAdmin
from bot.services.provisioning.coverage import cover_warnings
from bot.services.provisioning.desired import KINDS, DesiredState, Kind, Resource, desired_state, hours, key_in, tag

Op = Literal["create", "update", "replace", "delete"]
_SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
_LISTS: dict[Kind, tuple[str, str]] = {
    "team": ("/teams", "teams"), "schedule": ("/schedules", "schedules"),
    "escalation_policy": ("/escalation_policies", "escalation_policies"), "service": ("/services", "services"),
    "webhook_subscription": ("/webhook_subscriptions", "webhook_subscriptions"),
}
# What PagerDuty refuses of what provisioning writes, found by plan rather than halfway through apply: a second
# team, policy or service of one name (whatever the case), and longer than its OpenAPI description allows.
_UNIQUE_NAMES: tuple[Kind, ...] = ("team", "escalation_policy", "service")
_MAX_LENGTH: dict[tuple[Kind, str], int] = {("team", "name"): 100, ("team", "description"): 1024}
_SECRET_LOST = ("signing secret", "not in the secrets file", "a new one, written there")


@dataclass
class Actual:
    """PagerDuty as read: users' emails by id, and each kind's resources as the API returns them."""

    emails: dict[str, str]
    resources: dict[Kind, list[Json]]

    @classmethod
    def read(cls, api: PagingAdmin) -> Actual:
        emails = {u["id"]: str(u.get("email", "")).lower() for u in api.list("/users", "users")}
        resources: dict[Kind, list[Json]] = {kind: api.list(*_LISTS[kind]) for kind in KINDS}
        # Lists need not carry a schedule's layers: read each managed schedule whole.
        resources["schedule"] = [api.request("GET", f"/schedules/{s['id']}")["schedule"]
                                 if key_in(s.get("description")) else s for s in resources["schedule"]]
        return cls(emails, resources)

    def find(self, kind: Kind, resource_id: str) -> Json | None:
        return next((r for r in self.resources[kind] if r.get("id") == resource_id), None)


@dataclass(frozen=True)
class Action:
    op: Op
    kind: Kind
    key: str
    name: str
    id: str | None = None  # the existing resource's (update, replace, delete)
    changes: tuple[tuple[str, object, object], ...] = ()
    resource: Resource | None = None  # what to write (create, update, replace)
    # A schedule's layer in force: PagerDuty updates a layer named by its id, and ends (keeps, with an `end`) any
    # layer a PUT leaves out — so an update must name it, and ended layers are history, not state to compare.
    layer_id: str | None = None


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)  # Slack channels to create
    orphans: list[Action] = field(default_factory=list)  # managed, no longer wanted, kept without --prune
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what apply cannot fix and people should (on-call gaps)
    archived: list[str] = field(default_factory=list)  # Slack channels the catalogue names that are archived
    ids: dict[str, str] = field(default_factory=dict)  # managed key → PagerDuty id, for what exists already
    emails: dict[str, str] = field(default_factory=dict)  # email → PagerDuty user id
    desired: DesiredState | None = None
    slack_checked: bool = True  # False without a Slack token: `channels` is then unknown, not empty

    @property
    def empty(self) -> bool:
        return not self.actions and not self.channels

    def count(self, op: Op) -> int:
        return sum(a.op == op for a in self.actions)


def make_plan(catalogue: Catalogue, actual: Actual, *, bot_url: str, prune: bool,
              kept_secrets: Collection[str] | None = None) -> Plan:
    """Compare; `problems` (catalogue or account issues that block apply) come back instead of actions.
    `kept_secrets`: the subscription keys whose signing secrets the secrets file holds (None: not known); a managed
    subscription missing there is replaced, since PagerDuty shows a secret only to the call that creates it."""
    im = _incident_manager_targets(catalogue, actual)
    desired = desired_state(catalogue, known_emails=set(actual.emails.values()), incident_manager=im,
                            bot_url=bot_url)
    plan = Plan(problems=list(desired.problems), desired=desired, warnings=cover_warnings(catalogue),
                emails={email: uid for uid, email in actual.emails.items()})
    wanted = desired.by_key()
    managed: dict[str, tuple[Kind, Json]] = {}
    duplicates: list[tuple[Kind, Json]] = []
    for kind in KINDS:
        for item in actual.resources[kind]:
            key = key_in(item.get("description"))
            if key is None or not key.startswith(kind + "/"):
                continue
            if key in managed:  # two resources with one tag (e.g. made by hand): the first is kept
                duplicates.append((kind, item))
            else:
                managed[key] = (kind, item)
    # A catalogue service whose PagerDuty id exists but carries no tag yet: adopt it (the catalogue names it).
    for resource in wanted.values():
        if resource.kind == "service" and resource.key not in managed and resource.catalogue_id:
            found = actual.find("service", resource.catalogue_id)
            if found is not None and key_in(found.get("description")) is None:
                managed[resource.key] = ("service", found)
    plan.ids = {key: str(item["id"]) for key, (_, item) in managed.items()}
    tokens = _Tokens(actual.emails, {(kind, str(item["id"])): key for key, (kind, item) in managed.items()})
    plan.problems += _name_problems(wanted)
    tagged = {str(item["id"]): key for key, (_, item) in managed.items()}
    tagged |= {str(item["id"]): str(key_in(item.get("description"))) for _, item in duplicates}
    for kind in KINDS:
        for resource in (r for r in wanted.values() if r.kind == kind):
            if resource.key not in managed:
                plan.problems += _namesakes(actual, resource, None, tagged, wanted)
                plan.actions.append(Action("create", kind, resource.key, resource.name, resource=resource))
                continue
            item = managed[resource.key][1]
            if str(item.get("name", "")).lower() != resource.name.lower():  # a rename
                plan.problems += _namesakes(actual, resource, item, tagged, wanted)
            have = tokens.fields(kind, item)
            changes = tuple((name, have.get(name), value) for name, value in resource.fields.items()
                            if have.get(name) != value)
            # Its answer lost (a 502 after PagerDuty acted): found by its tag, but nobody has its secret.
            if kind == "webhook_subscription" and kept_secrets is not None and resource.key not in kept_secrets:
                changes += (_SECRET_LOST,)
            if not changes:
                continue
            # A subscription's delivery URL cannot be changed through the API, nor its secret shown again: replaced.
            op: Op = "replace" if kind == "webhook_subscription" and any(
                c[0] == "url" or c == _SECRET_LOST for c in changes) else "update"
            live = _live_layers(item) if kind == "schedule" else []
            plan.actions.append(Action(op, kind, resource.key, resource.name, str(item["id"]), changes, resource,
                                       layer_id=str(live[0]["id"]) if live and live[0].get("id") else None))
    leftovers = [(key, kind, item) for key, (kind, item) in managed.items() if key not in wanted]
    leftovers += [(str(key_in(item.get("description"))), kind, item) for kind, item in duplicates]
    for kind in reversed(KINDS):
        for key, _, item in (x for x in leftovers if x[1] == kind):
            label = item.get("name") or str(item.get("description") or item["id"]).replace(tag(key), "").strip()
            action = Action("delete", kind, key, str(label), str(item["id"]))
            (plan.actions if prune else plan.orphans).append(action)
    _catalogue_notes(catalogue, plan)
    return plan


def _incident_manager_targets(catalogue: Catalogue, actual: Actual) -> tuple[str, ...] | None:
    if catalogue.incident_manager is None:
        return ()
    policy = actual.find("escalation_policy", catalogue.incident_manager.escalation_policy_id)
    if policy is None:
        return None
    managed = {(k, str(i["id"])): key for k in KINDS for i in actual.resources[k]
               if (key := key_in(i.get("description")))}
    rules = policy.get("escalation_rules") or []
    return _Tokens(actual.emails, managed).targets(rules[0].get("targets") or []) if rules else ()


def _name_problems(wanted: Mapping[str, Resource]) -> list[str]:
    """The catalogue's names PagerDuty would refuse whatever it holds: too long, empty, or twice in one kind."""
    problems: list[str] = []
    first: dict[tuple[Kind, str], Resource] = {}
    said: set[tuple[str, str]] = set()  # two teams of one name also make two policies of one name: said once
    # In catalogue order, so that the later entry is the one said to repeat the earlier (services[5] then [12]).
    for resource in sorted(wanted.values(), key=lambda r: (r.source.split("[")[0], len(r.source), r.source)):
        label = resource.kind.replace("_", " ")
        if not resource.name.strip():
            problems.append(f"{resource.source}: empty; PagerDuty needs a name for each {label}")
        for (kind, name), limit in _MAX_LENGTH.items():
            length = len(str(resource.fields.get(name, ""))) if kind == resource.kind else 0
            if length > limit:
                made = "" if name == "name" else f" (provisioning writes it from the {kind}'s name and id)"
                problems.append(f"{resource.source}: PagerDuty takes a {label} {name} of at most {limit} characters; "
                                f"this one has {length}{made}: shorten it")
        if resource.kind in _UNIQUE_NAMES:
            other = first.setdefault((resource.kind, resource.name.lower()), resource)
            if other is not resource and (other.source, resource.source) not in said:
                said.add((other.source, resource.source))
                problems.append(f"{resource.source}: {label} {resource.name!r} has the name of {label} {other.name!r} "
                                f"({other.source}); PagerDuty ignores case and refuses a second {label} of one name: "
                                "rename one")
    return problems


def _namesakes(actual: Actual, resource: Resource, item: Json | None, tagged: Mapping[str, str],
               wanted: Mapping[str, Resource]) -> list[str]:
    """PagerDuty refuses a second team, policy or service of one name: one it holds already that this plan keeps
    (`item`: the resource renamed; None for a create)."""
    kind, label, name = resource.kind, resource.kind.replace("_", " "), resource.name
    if kind not in _UNIQUE_NAMES:
        return []
    problems = []
    for other in actual.resources[kind]:
        other_id, other_key = str(other["id"]), tagged.get(str(other["id"]))
        if str(other.get("name", "")).lower() != name.lower() or (item is not None and other_id == str(item["id"])):
            continue
        if other_key in wanted:
            continue  # the catalogue wants it too: renamed by this plan, or the same name twice (said above)
        if other_key is not None:
            problems.append(f"{label} {name!r} ({resource.source}): PagerDuty already has one of that name "
                            f"({other_id}), which Paved Road made for {other_key}, no longer in the catalogue; to "
                            f"keep it for this entry, change {tag(other_key)} in its description to "
                            f"{tag(resource.key)}, or choose another name")
        elif item is None:
            problems.append(f"{label} {name!r} already exists in PagerDuty ({other_id}) but Paved Road does not manage "
                            f"it; add {tag(resource.key)} to its description to let provisioning manage it, or "
                            "rename it")
        else:
            problems.append(f"{resource.source}: renames {label} {item.get('name')!r} ({item['id']}) to {name!r}, "
                            f"but PagerDuty already has a {label} {other.get('name')!r} ({other_id}) that Paved Road "
                            f"does not manage, and refuses a second of one name: choose another name, or rename or "
                            "delete that one in PagerDuty")
    return problems


class _Tokens:
    """Actual resources in `desired`'s terms: references as managed keys, `user/<email>`, or `<kind>#<id>`."""

    def __init__(self, emails: Mapping[str, str], keys: Mapping[tuple[Kind, str], str]) -> None:
        self.emails, self.keys = emails, keys

    def ref(self, kind: Kind, value: Any) -> str | None:
        if not isinstance(value, dict) or not value.get("id"):
            return None
        return self.keys.get((kind, str(value["id"]))) or f"{kind}#{value['id']}"

    def targets(self, targets: list[Json]) -> tuple[str, ...]:
        out = []
        for target in targets:
            if str(target.get("type", "")).startswith("user"):
                out.append(f"user/{self.emails.get(str(target['id']), '#' + str(target['id']))}")
            else:
                out.append(self.ref("schedule", target) or "")
        return tuple(out)

    def fields(self, kind: Kind, item: Json) -> dict[str, object]:
        common = {"name": item.get("name"), "description": item.get("description") or ""}
        if kind == "team":
            return common
        if kind == "schedule":
            layers = _live_layers(item)
            first: Json = layers[0] if layers else {}
            return common | {
                "time_zone": item.get("time_zone"), "layers": len(layers), "layer": first.get("name"),
                "members": tuple(f"user/{self.emails.get(u['user']['id'], '#' + u['user']['id'])}"
                                 for u in first.get("users") or []),
                "turn_seconds": first.get("rotation_turn_length_seconds"),
                "hours": hours(tuple((r.get("type"), r.get("start_time_of_day"), r.get("duration_seconds"),
                                      r.get("start_day_of_week")) for r in first.get("restrictions") or []))}
        if kind == "escalation_policy":
            teams = item.get("teams") or []
            return common | {
                "rules": tuple((r.get("escalation_delay_in_minutes"), self.targets(r.get("targets") or []))
                               for r in item.get("escalation_rules") or []),
                "team": self.ref("team", teams[0]) if teams else None}
        if kind == "service":
            return common | {"escalation_policy": self.ref("escalation_policy", item.get("escalation_policy"))}
        return {"url": (item.get("delivery_method") or {}).get("url"),
                "events": tuple(sorted(item.get("events") or [])),
                "filter": self.ref("service", item.get("filter")), "active": item.get("active", True),
                "description": item.get("description") or ""}


def _catalogue_notes(catalogue: Catalogue, plan: Plan) -> None:
    """Where the catalogue should name what provisioning made (once it exists)."""
    desired = plan.desired
    if desired is None:
        return
    names = desired.by_key()
    for index, key in sorted(desired.service_keys.items()):
        service = catalogue.services[index]
        known = plan.ids.get(key)
        if known and known != service.pagerduty_service_id:
            plan.notes.append(f"services[{index}].pagerduty_service_id: is {service.pagerduty_service_id!r}; set it "
                              f"to {known!r} (the PagerDuty service {names[key].name!r})")
        elif not known:
            plan.notes.append(f"services[{index}].pagerduty_service_id: set it to the id apply prints for "
                              f"{names[key].name!r}")
    for index, keys in sorted(desired.rota_schedules.items()):
        rota = catalogue.rotas[index]
        schedule_ids = [plan.ids.get(key) for key in keys]
        if schedule_ids == rota.schedule_ids:
            continue
        field_name = "pagerduty_schedule_id" if len(keys) == 1 else "pagerduty_schedule_ids"
        is_now = rota.schedule_ids[0] if len(rota.schedule_ids) == 1 else rota.schedule_ids
        if all(schedule_ids):
            wanted: object = schedule_ids[0] if len(keys) == 1 else schedule_ids
            where = f"{wanted!r} (the schedule{'s' if len(keys) > 1 else ''} " + \
                ", ".join(repr(names[k].name) for k in keys) + ")"
        else:
            where = "the id(s) apply prints for " + ", ".join(repr(names[k].name) for k in keys)
        plan.notes.append(f"rotas[{index}].{field_name}: is {is_now!r}; set it to {where}, so handovers follow "
                          f"{'it' if len(keys) == 1 else 'them'}")
    handed_over = {key for keys in desired.rota_schedules.values() for key in keys}
    for resource in desired.resources:
        if resource.kind == "schedule" and resource.key not in handed_over:
            owner_kind, owner_id = resource.key.split("/")[1:3]
            out_of_hours = resource.key.endswith("/out-of-hours")
            plan.notes.append(
                f"rotas: no rota hands over the schedule {resource.name!r}, so its shift changes are not posted in "
                f"Slack; add one with `{owner_kind}: {owner_id}`" + ("" if not out_of_hours else
                " (with out-of-hours on-call: leave `out_of_hours` true)") + " and its `slack_channel`")


def _live_layers(schedule: Json) -> list[Json]:
    """A schedule's layers in force: PagerDuty keeps the layers an update replaced, ended (`end` set)."""
    return [layer for layer in schedule.get("schedule_layers") or [] if not layer.get("end")]


def render(plan: Plan, *, pagerduty_url: str, prune: bool) -> str:
    """Terraform-like: `+` create, `~` update (with each field's change), `-/+` replace, `-` delete."""
    lines = [f"PagerDuty ({pagerduty_url}):"]
    for action in plan.actions:
        where = f" ({action.id})" if action.id else ""
        lines.append(f"  {_SYMBOL[action.op]} {action.kind} {action.name!r} [{action.key}]{where}")
        for name, old, new in action.changes:
            lines.append(f"      {name}: {_show(old)} → {_show(new)}")
    if not plan.actions:
        lines.append("  (nothing to change)")
    if plan.channels or plan.archived:
        lines.append("Slack:")
        lines += [f"  + channel #{name}" for name in plan.channels]
        # Provisioning never unarchives (nor archives) a channel: it holds people's history, and someone chose to.
        lines += [f"  ! channel {name} is archived: the bot cannot post there; unarchive it in Slack (by hand)"
                  for name in plan.archived]
    if plan.orphans:
        lines.append("Managed by Paved Road but no longer in the catalogue (kept; `--prune` deletes them):")
        lines += [f"  {a.kind} {a.name!r} [{a.key}] ({a.id})" for a in plan.orphans]
    if plan.notes:
        lines.append("Catalogue:")
        lines += [f"  ! {note}" for note in plan.notes]
    if plan.warnings:
        lines.append("Warnings (apply cannot fix these; the catalogue's rotas can):")
        lines += [f"  ! {warning}" for warning in plan.warnings]
    slack = f"{len(plan.channels)} Slack channel(s) to create" if plan.slack_checked else "Slack not checked"
    if plan.empty and plan.archived:
        lines.append(f"No changes to make, but {len(plan.archived)} archived Slack channel(s) to unarchive by hand "
                     "(above).")
    elif plan.empty:
        lines.append("No changes: PagerDuty and Slack match the catalogue." if plan.slack_checked else
                     "No changes in PagerDuty: it matches the catalogue (Slack not checked).")
    else:
        lines.append(f"Plan: {plan.count('create')} to create, {plan.count('update')} to update, "
                     f"{plan.count('replace')} to replace, {plan.count('delete')} to delete in PagerDuty; "
                     f"{slack}" + (f"; {len(plan.archived)} archived to unarchive by hand." if plan.archived else "."))
    return "\n".join(lines)


def _show(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)
