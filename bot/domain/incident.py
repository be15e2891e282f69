"""The incident and its state machine: `apply_event(incident, event, policy)` → `Decision`.

Rules (see DESIGN.md, "record first, act after, never twice"):
- PagerDuty's incident-state events carry a full snapshot; the newest one by `occurred_at` wins. An event older than
  the last applied snapshot never overwrites newer state, but still lands on the timeline.
- Replaying an event the incident has already seen changes nothing and produces no effects (idempotent).
- The first sight of an incident that is not resolved opens its channel, whatever the event type (the bot may have
  been down at trigger time). An incident first seen resolved is recorded, with no channel.
- Acknowledgement time is the earliest acknowledgement seen, even when it arrives late (MTTA must not be inflated by
  delivery order).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.domain.coordination import COMMANDER, RoleHolder, StatusUpdate, holder_of, kept_updates
from bot.domain.effects import Effect
from bot.domain.effects.servicenow import NoteOnTicket, OpenTicket, SyncTicket, UpdateTicketLevels
from bot.domain.effects.slack import (
    DraftReview,
    InviteResponders,
    OfferCommand,
    OpenIncidentChannel,
    PostTimelineEntry,
    RefreshCard,
    TellNewTeam,
)
from bot.domain.events import INCIDENT_SNAPSHOT_EVENTS, IncidentEvent, IncidentSnapshot, Person
from bot.domain.follow_ups import FollowUp
from bot.domain.home import HomesToRefresh, home_refresh
from bot.domain.timeline import TimelineEntry, describe

# PagerDuty's incident key of a page a ServiceNow ticket made: servicenow:<sys_id> (bot/services/ticket_pages.py).
TICKET_KEY = "servicenow:"


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ChannelPolicy:
    """Which incidents get a dedicated channel: "all", "high_urgency", or a set of priorities ("P1", "P2")."""

    dedicated_for: str | frozenset[str] = "all"
    # Keep a ServiceNow ticket per incident (ServiceNow is configured).
    tickets: bool = False
    # The incident-manager escalation policy: someone paged through it is offered command while nobody leads.
    incident_manager_policy: str | None = None
    # Refresh the App Home tab of the people an incident concerns when it opens, is acknowledged or resolved
    # (`Decision.homes`; an opening's are refreshed by its channel's opening).
    homes: bool = False
    # Draft the incident's review a minute after each resolve (the catalogue's review.on_resolve).
    reviews_on_resolve: bool = False

    def wants_dedicated_channel(self, urgency: str, priority: str | None) -> bool:
        if self.dedicated_for == "all":
            return True
        if self.dedicated_for == "high_urgency":
            return urgency == "high"
        return isinstance(self.dedicated_for, frozenset) and priority in self.dedicated_for


@dataclass(frozen=True)
class Incident:
    """What the bot knows of a PagerDuty incident."""

    id: str
    number: int
    title: str
    status: Status
    urgency: str
    priority: str | None
    service_id: str
    service_name: str
    escalation_policy_id: str | None
    escalation_policy_name: str | None
    html_url: str
    assignees: tuple[Person, ...]
    triggered_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    # occurred_at of the newest snapshot applied; older snapshots only reach the timeline.
    state_as_of: datetime
    dedicated_channel: bool
    # The newest event id applied (the inbox is unique on event id; this makes the domain safe on its own too).
    last_event_id: str | None = None
    # An OpenIncidentChannel was decided: the incident has, or is getting, its channel (or its team-channel card).
    channel_requested: bool = False
    # PagerDuty's de-duplication key; "servicenow:<sys_id>" when a ServiceNow ticket paged the team.
    incident_key: str | None = None
    # The incident.triggered event has been applied.
    trigger_seen: bool = False
    # Action items recorded with `/incident followup` (bot/domain/contributions.py), in the order recorded.
    follow_ups: tuple[FollowUp, ...] = ()
    # The incident manager's toolkit (bot/domain/coordination.py): who holds each role, the latest status updates
    # (oldest first), and the PagerDuty users already offered command.
    roles: tuple[RoleHolder, ...] = ()
    status_updates: tuple[StatusUpdate, ...] = ()
    command_offered_to: tuple[str, ...] = ()
    # PagerDuty users asked to respond (a responder request: `/incident page`, the incident-manager rota) who have not
    # declined: responders as much as its assignees, for the workspace's `permissions`.
    responders: tuple[str, ...] = ()
    # When each person's latest request or decline happened: PagerDuty does not promise their order, and a request
    # delivered after the decline that followed it is old news (`_asked_to_respond`).
    responders_heard_at: tuple[tuple[str, datetime], ...] = ()
    # The bot asked PagerDuty to raise it to high urgency (its ticket raised: bot/domain/ticket_rules.py) and PagerDuty
    # has not yet said it took it; then when it did (`urgency_raise_confirmed`). PagerDuty sends no event for an
    # urgency changed, so a snapshot saying low sent before the raise landed (an acknowledgement meanwhile) is old news.
    raising_urgency: bool = False
    urgency_raised_at: datetime | None = None
    # The bot's raise was refused or given up (`urgency_raise_refused`): the card says the page is still low and to
    # raise it by hand, until a snapshot says high (someone did), another raise is asked for, or the incident resolves.
    urgency_raise_failed: bool = False
    # Fields a newer version of the bot saved that this one does not know (a rolling upgrade runs two versions on one
    # store): their names and JSON values as read, written back unchanged (bot/adapters/store/codec.py), so that an
    # older replica applying an event to the incident neither fails on them nor drops them. Never read here.
    newer_fields: tuple[tuple[str, Any], ...] = field(default=(), hash=False, repr=False)

    @property
    def commander(self) -> RoleHolder | None:
        return holder_of(self.roles, COMMANDER)

    @property
    def last_update(self) -> StatusUpdate | None:
        return self.status_updates[-1] if self.status_updates else None

    @property
    def time_to_acknowledge_seconds(self) -> float | None:
        return (self.acknowledged_at - self.triggered_at).total_seconds() if self.acknowledged_at else None

    @property
    def time_to_resolve_seconds(self) -> float | None:
        return (self.resolved_at - self.triggered_at).total_seconds() if self.resolved_at else None


@dataclass(frozen=True)
class Decision:
    """What applying one event means: the new incident (None if still unknown), the timeline entry and the effects;
    and the App Homes it makes stale (not stored: asked of the in-memory publisher once the decision is, see
    bot/domain/home.py)."""

    incident: Incident | None
    entry: TimelineEntry | None
    effects: tuple[Effect, ...]
    homes: HomesToRefresh | None = None


def apply_event(incident: Incident | None, event: IncidentEvent, policy: ChannelPolicy) -> Decision:
    """Apply one PagerDuty event to what we know of its incident (None if never seen)."""
    decision = _apply(incident, event, policy)
    if policy.reviews_on_resolve and decision.incident is not None and decision.entry is not None \
            and decision.entry.kind == "resolved" and decision.incident.status is Status.RESOLVED:
        # Queued with the resolve, in its transaction: nothing between the two can lose the draft.
        draft = DraftReview(decision.incident.id, after_resolve=True)
        return replace(decision, effects=(*decision.effects, draft))
    return decision


def _apply(incident: Incident | None, event: IncidentEvent, policy: ChannelPolicy) -> Decision:
    if not event.handled or (incident is not None and incident.last_event_id == event.id):
        return Decision(incident, None, ())
    if incident is not None and event.type == "incident.triggered" and incident.trigger_seen:
        # An incident is triggered once: a second "triggered" is a re-sent copy (new event id, same news). A trigger
        # that arrives after other events (out of order) is news, and lands on the timeline.
        return Decision(incident, None, ())
    entry = describe(event)
    if incident is None:
        return _first_sight(event, entry, policy)
    if event.type == "incident.status_update_published":
        return _status_update_published(incident, event, entry)
    if event.type == "incident.priority_updated" and event.snapshot is not None \
            and event.snapshot.priority == incident.priority:
        # Set to what it already was (`/incident priority P1` sent twice, each setting it in PagerDuty): no news.
        entry = None

    snapshot = event.snapshot
    newer = snapshot is not None and event.occurred_at >= incident.state_as_of
    updated = _adopt(incident, snapshot, event) if newer and snapshot else incident
    updated = _record_times(updated, event)
    effects: list[Effect] = []
    if entry is not None:
        effects.append(PostTimelineEntry(incident.id, entry.id))
    before = {p.id for p in incident.assignees}
    if added := tuple(dict.fromkeys(p.id for p in updated.assignees if p.id not in before)):
        # Only those it newly came to: they are invited though invited before (they may have left the channel since),
        # and an assignee who left it while it stayed theirs is not pulled back in by someone else's arrival.
        effects.append(InviteResponders(incident.id, added))
    # A request or answer older than the latest heard of that person (delivered late) invites nobody and offers
    # nothing: asked, then declined, delivered the other way round, the decliner was invited and offered command.
    late = _heard_since(incident, event)
    responder = None if late else _responder_added(event)
    if responder is not None:
        effects.append(InviteResponders(incident.id, (responder.id,)))
    updated = _asked_to_respond(updated, event)
    if _card_fields(updated) != _card_fields(incident):
        effects.append(RefreshCard(incident.id))
    if incident.service_id and updated.service_id != incident.service_id and updated.status is not Status.RESOLVED \
            and incident.channel_requested:  # (its channel's opening, to come, announces it where it now belongs)
        effects.append(TellNewTeam(incident.id, incident.service_id))
    if event.type == "incident.triggered":
        updated = replace(updated, trigger_seen=True)
    updated, opening = _channel_needed(updated, policy)
    if policy.tickets and ((updated.status, updated.resolved_at) != (incident.status, incident.resolved_at)
                           or (updated.status is Status.RESOLVED and (event.type == "incident.annotated"
                                                                      or updated.acknowledged_at
                                                                      != incident.acknowledged_at))):
        # A note after the resolve (the resolution note, typically), and an acknowledgement delivered after it (its
        # time to acknowledge), still reach the resolved ticket's close notes.
        effects.append(SyncTicket(incident.id))
    if policy.tickets and (updated.urgency, updated.priority) != (incident.urgency, incident.priority):
        effects.append(UpdateTicketLevels(incident.id))
    if policy.tickets and (updated.number, updated.title) != (incident.number, incident.title):
        effects.append(OpenTicket(incident.id))  # renamed in PagerDuty: the known ticket's short description follows
    if policy.tickets and updated.title != incident.title and (desk := updated.incident_key or "").startswith(
            TICKET_KEY):
        # A page the desk's ticket made: its short description is the desk's (kept), so the desk hears of each rename
        # in a work note — once (its time in it, to the second: PagerDuty's, of the event that carried the title, the
        # same at every redelivery; a title given back, within the minute too, is told again, not taken for the
        # earlier note).
        effects.append(NoteOnTicket(desk.removeprefix(TICKET_KEY), (
            f"Paved Road: PagerDuty incident #{updated.number}, which this ticket paged, was renamed "
            f"\"{updated.title}\" in PagerDuty (by {event.occurred_at.astimezone(UTC):%d %b %H:%M:%S} UTC). This "
            "ticket's short description stays as the desk wrote it.")))
    updated, offer = _offer_command(updated, event, policy) if not late else (updated, ())
    homes = home_refresh(incident, updated) if policy.homes else None
    return Decision(replace(updated, last_event_id=event.id), entry, (*opening, *effects, *offer), homes)


def _status_update_published(incident: Incident, event: IncidentEvent, entry: TimelineEntry | None) -> Decision:
    """PagerDuty says a status update was published. One the bot published for someone in Slack is on the timeline
    already: it is only marked confirmed. One published in PagerDuty directly is news: a timeline line, and the
    incident's latest update (the card and the reminders count it)."""
    message = str(event.detail.get("message") or "").strip()
    # A trimmed one is PagerDuty's cut of ours: its words before the ellipsis begin ours (none, dots alone: no match).
    kept = message.rstrip(". …") if event.detail.get("trimmed") else ""
    for index, update in enumerate(incident.status_updates):
        sent = update.message.strip()
        if update.source == "slack" and not update.in_pagerduty and (
                sent == message or (kept and sent.startswith(kept))):
            confirmed = (*incident.status_updates[:index], replace(update, in_pagerduty=True),
                         *incident.status_updates[index + 1:])
            return Decision(replace(incident, status_updates=confirmed, last_event_id=event.id), None, ())
    update = StatusUpdate(id=event.id, at=event.occurred_at, author=event.agent.name if event.agent else "PagerDuty",
                          what=message or "(empty)", source="pagerduty", in_pagerduty=True)
    updates = kept_updates((*incident.status_updates, update))
    effects: tuple[Effect, ...] = (RefreshCard(incident.id),)
    if entry is not None:
        effects = (PostTimelineEntry(incident.id, entry.id), *effects)
    return Decision(replace(incident, status_updates=updates, last_event_id=event.id), entry, effects)


def _offer_command(incident: Incident, event: IncidentEvent,
                   policy: ChannelPolicy) -> tuple[Incident, tuple[Effect, ...]]:
    """Someone paged through the incident-manager rota, added or joining as a responder while nobody leads, is
    offered command (once)."""
    if event.type not in ("incident.responder.added", "incident.responder.replied") or \
            incident.status is Status.RESOLVED or incident.commander is not None:
        return incident, ()
    user, via = event.detail.get("user"), event.detail.get("escalation_policy")
    user_id = str(user.get("id") or "") if isinstance(user, dict) else ""
    via_id = str(via.get("id") or "") if isinstance(via, dict) else ""
    if (not user_id or not policy.incident_manager_policy or via_id != policy.incident_manager_policy
            or user_id in incident.command_offered_to or event.detail.get("state") == "declined"):
        return incident, ()
    return (replace(incident, command_offered_to=(*incident.command_offered_to, user_id)),
            (OfferCommand(incident.id, user_id),))


def raised_to_high_urgency(incident: Incident, policy: ChannelPolicy) -> tuple[Incident, tuple[Effect, ...],
                                                                           HomesToRefresh | None]:
    """The incident at high urgency as the bot raises it (PagerDuty sends no event for an urgency changed): its card
    shows it, it gets a channel of its own if the policy now wants one, and the Homes listing it are refreshed."""
    updated, opening = _channel_needed(replace(incident, urgency="high", raising_urgency=True,
                                                 urgency_raise_failed=False), policy)
    return updated, (*opening, RefreshCard(incident.id)), home_refresh(incident, updated) if policy.homes else None


def _channel_needed(incident: Incident, policy: ChannelPolicy) -> tuple[Incident, tuple[Effect, ...]]:
    """An open incident gets its channel if it has none yet (first seen resolved, then reopened), or a channel of
    its own once the policy wants one (e.g. its priority was raised to P1 after the trigger). Never downgraded."""
    if incident.status is Status.RESOLVED:
        return incident, ()
    upgrade = not incident.dedicated_channel and policy.wants_dedicated_channel(incident.urgency, incident.priority)
    if incident.channel_requested and not upgrade:
        return incident, ()
    updated = replace(incident, channel_requested=True, dedicated_channel=incident.dedicated_channel or upgrade)
    return updated, (OpenIncidentChannel(incident.id),)


def _first_sight(event: IncidentEvent, entry: TimelineEntry | None, policy: ChannelPolicy) -> Decision:
    snapshot = event.snapshot
    if snapshot is None:
        # A note or responder event for an incident we never saw carries no title or service: we cannot build a
        # channel from it. It is kept on the timeline; the next incident-state event will open the channel.
        return Decision(None, entry, ())
    incident = _record_times(_new_incident(snapshot, event, policy), event)
    effects: tuple[Effect, ...] = ()
    if incident.status is not Status.RESOLVED:
        incident = replace(incident, channel_requested=True)
        effects = (OpenIncidentChannel(incident.id),)
        if entry is not None:
            effects += (PostTimelineEntry(incident.id, entry.id),)
    if policy.tickets:
        # Even an incident first seen resolved gets its record in ServiceNow, already resolved.
        effects += (OpenTicket(incident.id), SyncTicket(incident.id))
    # No Homes refreshed here: the channel's opening refreshes its people's once it can be linked
    # (channel_opening.py), and an incident first seen resolved is on nobody's Home.
    return Decision(incident, entry, effects)


def _new_incident(snapshot: IncidentSnapshot, event: IncidentEvent, policy: ChannelPolicy) -> Incident:
    return Incident(
        id=snapshot.id, number=snapshot.number, title=snapshot.title, status=Status(_status(snapshot)),
        urgency=snapshot.urgency, priority=snapshot.priority, service_id=snapshot.service_id,
        service_name=snapshot.service_name, escalation_policy_id=snapshot.escalation_policy_id,
        escalation_policy_name=snapshot.escalation_policy_name, html_url=snapshot.html_url,
        assignees=snapshot.assignees, triggered_at=snapshot.created_at or event.occurred_at,
        acknowledged_at=None, resolved_at=None, state_as_of=event.occurred_at,
        dedicated_channel=policy.wants_dedicated_channel(snapshot.urgency, snapshot.priority),
        last_event_id=event.id, incident_key=snapshot.incident_key,
        trigger_seen=event.type == "incident.triggered",
    )


def _status(snapshot: IncidentSnapshot) -> str:
    return snapshot.status if snapshot.status in Status.__members__.values() else Status.TRIGGERED


def _adopt(incident: Incident, snapshot: IncidentSnapshot, event: IncidentEvent) -> Incident:
    absent = snapshot.absent  # left out of the event: kept as known, not set back to the defaults
    status = incident.status if "status" in absent else Status(_status(snapshot))
    return replace(
        incident, title=incident.title if "title" in absent else snapshot.title, status=status,
        number=snapshot.number or incident.number,  # (first seen without one: #0 until an event names it)
        urgency=_urgency(incident, snapshot, event),
        raising_urgency=incident.raising_urgency and status is not Status.RESOLVED and (
            "urgency" in absent or snapshot.urgency != "high"),  # (high: PagerDuty has it)
        urgency_raise_failed=incident.urgency_raise_failed and status is not Status.RESOLVED and (
            "urgency" in absent or snapshot.urgency != "high"),
        priority=incident.priority if "priority" in absent else snapshot.priority,
        service_id=snapshot.service_id or incident.service_id,
        service_name=snapshot.service_name or incident.service_name,
        escalation_policy_id=snapshot.escalation_policy_id or incident.escalation_policy_id,
        escalation_policy_name=snapshot.escalation_policy_name or incident.escalation_policy_name,
        html_url=snapshot.html_url or incident.html_url,
        # PagerDuty empties assignees on acknowledge/resolve in some payloads; keep who was on it.
        assignees=snapshot.assignees or incident.assignees,
        resolved_at=incident.resolved_at if status is Status.RESOLVED else None,
        state_as_of=event.occurred_at,
    )


def _urgency(incident: Incident, snapshot: IncidentSnapshot, event: IncidentEvent) -> str:
    """The snapshot's urgency, unless it is low from before PagerDuty took the bot's raise (not a lowering)."""
    if "urgency" in snapshot.absent:
        return incident.urgency
    raised_at = incident.urgency_raised_at
    if snapshot.urgency == "low" and incident.urgency == "high" and (
            incident.raising_urgency or (raised_at is not None and event.occurred_at < raised_at)):
        return "high"
    return snapshot.urgency


def urgency_raise_confirmed(incident: Incident, at: datetime) -> Incident:
    """PagerDuty took the raise by `at`: a snapshot saying low from then on is someone lowering it."""
    return replace(incident, raising_urgency=False, urgency_raised_at=at, urgency_raise_failed=False)


def urgency_raise_refused(incident: Incident) -> Incident:
    """PagerDuty refused the raise for good, or it was given up after its attempts: the page is as low as it was (only
    a low page is raised), and the card says the raise failed — unless a snapshot saying high came meanwhile (someone
    raised it by hand)."""
    return replace(incident, raising_urgency=False, urgency="low", urgency_raise_failed=True) \
        if incident.raising_urgency else incident


def _record_times(incident: Incident, event: IncidentEvent) -> Incident:
    """Acknowledged/resolved times come from the events themselves, whatever order they arrive in."""
    if event.type == "incident.acknowledged":
        earliest = min(filter(None, (incident.acknowledged_at, event.occurred_at)))
        incident = replace(incident, acknowledged_at=earliest)
    if event.type == "incident.resolved" and incident.status is Status.RESOLVED:
        latest = max(filter(None, (incident.resolved_at, event.occurred_at)))
        incident = replace(incident, resolved_at=latest)
    return incident


def _responder_added(event: IncidentEvent) -> Person | None:
    if event.type != "incident.responder.added":
        return None
    user = event.detail.get("user")
    if isinstance(user, dict) and user.get("id"):
        return Person(str(user["id"]), str(user.get("summary") or user["id"]))
    return None


def _asked_to_respond(incident: Incident, event: IncidentEvent) -> Incident:
    """Someone asked to respond is one of its responders from the request until they decline it: by when each
    happened, not the order they are delivered in."""
    user_id = _responder_id(event)
    if not user_id:
        return incident
    if _heard_since(incident, event):
        return incident  # a request delivered after the decline that answered it (or the reverse): older news
    heard = dict(incident.responders_heard_at)
    heard[user_id] = event.occurred_at
    others = tuple(u for u in incident.responders if u != user_id)
    declined = event.type == "incident.responder.replied" and event.detail.get("state") == "declined"
    return replace(incident, responders=others if declined else (*others, user_id),
                   responders_heard_at=tuple(heard.items()))


def _responder_id(event: IncidentEvent) -> str:
    """The person a responder request or answer is about ("" for any other event)."""
    if event.type not in ("incident.responder.added", "incident.responder.replied"):
        return ""
    user = event.detail.get("user")
    return str(user.get("id") or "") if isinstance(user, dict) else ""


def _heard_since(incident: Incident, event: IncidentEvent) -> bool:
    """Whether a request or answer is older than the latest heard of its person: delivered late, old news."""
    user_id = _responder_id(event)
    heard = dict(incident.responders_heard_at)
    return bool(user_id) and user_id in heard and event.occurred_at < heard[user_id]


def _card_fields(incident: Incident) -> tuple[object, ...]:
    return (incident.number, incident.title, incident.status, incident.urgency, incident.priority, incident.assignees,
            incident.escalation_policy_name, incident.acknowledged_at, incident.resolved_at, incident.service_name)


def is_snapshot_event(event_type: str) -> bool:
    return event_type in INCIDENT_SNAPSHOT_EVENTS
