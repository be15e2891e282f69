"""The event kinds session 26 added, hostile (found in its review). PagerDuty's `incident.role.assigned`,
`incident.conference_bridge.updated`, `incident.service_updated`, `incident.resolved` with a `resolve_reason` (a
merge naming the incident it went into), notes and status updates with `trimmed`, snapshots missing fields; and
ServiceNow's business rule with `previous_impact` / `previous_urgency`.

Every field is mutated (values of the wrong type, nulls, huge strings, lone surrogates, bidirectional marks, Slack
markup, nested junk, numbers where strings go, keys removed) and the delivery goes through the real readers
(bot/adapters/*/webhook.py) and the domain (apply_event, decide_ticket) and every render of what they decide:
nothing but the documented DeliveryError escapes, and no mention or link from the input comes out live. A few
examples go end to end through the sandbox's signed webhook routes: never a 5xx, and no live mention in Slack.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import event as outcome
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.adapters.servicenow.webhook import ServiceNowWebhook
from bot.domain.coordination import StatusUpdate
from bot.domain.events import IncidentEvent, Person
from bot.domain.incident import ChannelPolicy, Decision, Incident, Status, apply_event
from bot.domain.ticket_rules import TicketRules, decide_ticket
from bot.domain.timeline import MERGED_INTO, TimelineEntry, merged_into_id
from bot.errors import DeliveryError
from bot.ports import EventReader, Webhook
from bot.render import card as cards
from bot.render import replies
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import settle, trigger
from tests.helpers import WEBHOOK_SECRET, envelope, fixture, incident_event, note_event, servicenow_signature, sign
from tests.property.loop_bridge import OnTheLoop, run_property

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
AT = "2026-11-27T10:10:00Z"
INCIDENT_ID = "PGR0VU2"
SN_SECRET = "review-servicenow-secret"
EventT = TypeVar("EventT", covariant=True)
Read = TypeVar("Read")

# What must never come out of the bot live: each would ping, link or point people somewhere.
LIVE = ("<!channel>", "<!here>", "<!everyone>", "<@U0HOSTILE>", "<#C0HOSTILE>", "<https://evil.example|x>",
        "<mailto:a@evil.example|x>")
MARKUP = st.sampled_from([*LIVE, "<!subteam^S0HOSTILE>", "&lt;!channel&gt;", "a|b>c<", "*bold* _it_ `code`",
                          "<https://evil.example>", "\u202eevil\u202c", "\u200f\u061c", "x\x00y", "\ud83d", "\udc00",
                          "/incidents/PEVIL1)", "https://acme.pagerduty.com/incidents/PEVIL2"])
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]),
                      st.sampled_from("<>&|!@#\u202e\u200f\u2066\ufeff\x00\n`")), max_size=20),
    MARKUP,
    st.builds(lambda head, piece, times: head + piece * times, MARKUP, st.sampled_from(["a", "<!channel> ", "é😀"]),
              st.integers(0, 6_000)),
)
NUMBERS = st.one_of(st.integers(-(2 ** 63), 2 ** 63 - 1), st.sampled_from([2 ** 64, -(2 ** 70), 1e308, -0.0]),
                    st.floats(allow_nan=False, allow_infinity=False))
JUNK = st.recursive(st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=6)
REF = st.fixed_dictionaries({}, optional={"id": st.one_of(TEXT, JUNK), "summary": st.one_of(TEXT, JUNK),
                                          "html_url": st.one_of(TEXT, JUNK), "type": st.one_of(TEXT, JUNK)})


def _merge_resolve() -> dict[str, Any]:
    body = incident_event("incident.resolved", occurred_at=AT)
    body["event"]["data"]["resolve_reason"] = {"type": "merge_resolve_reason", "incident": {
        "id": "PINTO01", "summary": "The one it went into", "html_url": "https://acme.pagerduty.com/incidents/PINTO01",
        "type": "incident_reference"}}
    return body


def _trimmed(kind: str) -> dict[str, Any]:
    if kind == "note":
        body = note_event("Rolled back the deploy", occurred_at=AT)
    else:
        body = envelope("incident.status_update_published", fixture("data.incident_status_update.json"),
                        occurred_at=AT)
    body["event"]["data"]["trimmed"] = True
    return body


def _role_assigned() -> dict[str, Any]:
    data = fixture("data.incident_role_assignments.json")
    data["incident_role_assignments"][0]["incident"]["id"] = INCIDENT_ID
    return envelope("incident.role.assigned", data, occurred_at=AT)


def _service_updated() -> dict[str, Any]:
    body = incident_event("incident.service_updated", occurred_at=AT)
    body["event"]["data"]["service"] = {"id": "PNEWSVC", "summary": "Payments API", "type": "service_reference"}
    return body


def _without(field: str) -> dict[str, Any]:
    body = incident_event("incident.acknowledged", occurred_at=AT)
    del body["event"]["data"][field]
    return body


def _bases() -> dict[str, dict[str, Any]]:
    return {
        "role.assigned": _role_assigned(),
        "conference_bridge.updated": envelope("incident.conference_bridge.updated",
                                              fixture("data.incident_conference_bridge.json"), occurred_at=AT),
        "service_updated": _service_updated(),
        "resolved (merge)": _merge_resolve(),
        "annotated (trimmed)": _trimmed("note"),
        "status_update (trimmed)": _trimmed("update"),
        **{f"acknowledged without {f}": _without(f) for f in ("title", "status", "urgency", "priority", "service",
                                                              "assignees", "number", "html_url")},
    }


BASES = _bases()
# The new kinds thrice as often as each snapshot missing a field.
KINDS = sorted(BASES) + 2 * [kind for kind in sorted(BASES) if not kind.startswith("acknowledged without")]


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


@st.composite
def hostile(draw: st.DrawFn, base: dict[str, Any], focus: tuple[Any, ...]) -> dict[str, Any]:
    """`base` with 1 to 5 of its values under `focus` (now and then elsewhere in the event) replaced by something
    hostile, removed, or given a hostile sibling."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 5))):
        every = [p for p in paths(document) if p[:2] in (("event", "data"), ("event", "agent"))]
        focused = [p for p in every if p[:len(focus)] == focus and len(p) > len(focus)]
        elsewhere = draw(st.integers(0, 4)) == 0
        candidates = every if elsewhere or not focused else focused
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        how = draw(st.sampled_from(["text", "text", "junk", "ref", "remove", "add"]))
        if how == "remove":
            del parent[path[-1]]
        elif how == "add":
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[draw(st.sampled_from(["summary", "id", "html_url", "number", "trimmed", "type", "incident",
                                             "assignee", "role", "conference_url", "message"]))] = draw(
                    st.one_of(TEXT, JUNK, REF))
        else:
            parent[path[-1]] = draw({"text": TEXT, "junk": JUNK, "ref": REF}[how])
    return document


FOCUS = {"role.assigned": ("event", "data", "incident_role_assignments"),
         "conference_bridge.updated": ("event", "data"), "service_updated": ("event", "data", "service"),
         "resolved (merge)": ("event", "data", "resolve_reason"), "annotated (trimmed)": ("event", "data"),
         "status_update (trimmed)": ("event", "data")}


# ----- what the bot shows of an entry or an incident ------------------------------------------------------------------

# Our own markup: links to http(s) URLs with nothing Slack would misread in them, channels, user mentions.
_OURS = re.compile(r"<https?://[^<>|\s]+\|[^<>]*>|<#[A-Z0-9]+>|<@[A-Z0-9]+>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def outside_markup(mrkdwn: str) -> list[str]:
    """A `<`, `>` outside our own links and mentions, or an `&` starting no entity: only unescaped input gives one."""
    rest = _OURS.sub("", mrkdwn)
    return re.findall(r"[<>]", rest) + re.findall(r"&", _ENTITY.sub("", rest))


def assert_nothing_live(*texts: str) -> None:
    for text in texts:
        assert outside_markup(text) == [], text[:400]
        assert not any(live in text for live in LIVE), text[:400]
        assert not re.search("[\ud800-\udfff\u202a-\u202e\u2066-\u2069\x00]", text), ascii(text[:400])


def shown(incident: Incident | None, entries: list[TimelineEntry]) -> list[str]:
    """Every Slack text the bot makes of this incident and these entries."""
    texts = []
    if incident is not None:
        blocks = cards.card_blocks(incident, NOW, cards.TicketView("INC0010001", incident.html_url, pending=True))
        texts += [*mrkdwn_texts(blocks), cards.card_text(incident), cards.announcement(incident, "C0A"),
                  replies.status_text(incident, entries, [], NOW), *replies.timeline_pages(incident, entries)]
        texts += [replies.entry_line(incident, e) for e in entries]
    return texts + [cards.timeline_line(NOW, e.text) for e in entries]


def mrkdwn_texts(value: Any) -> list[str]:
    """The mrkdwn texts in blocks (plain_text is shown as written: Slack makes no markup of it)."""
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_texts(item)]
    if not isinstance(value, dict):
        return []
    own = [value["text"]] if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str) else []
    return own + [text for item in value.values() for text in mrkdwn_texts(item)]


# ----- PagerDuty: the reader and the domain ---------------------------------------------------------------------------

def known_incident(**changes: Any) -> Incident:
    incident = Incident(
        id=INCIDENT_ID, number=2, title="A little bump in the road", status=Status.TRIGGERED, urgency="high",
        priority="P1", service_id="PBASKET", service_name="Basket API", escalation_policy_id="PEP1",
        escalation_policy_name="Basket", html_url="https://acme.pagerduty.com/incidents/PGR0VU2",
        assignees=(Person("PU1", "Asha"),), triggered_at=NOW - timedelta(hours=2), acknowledged_at=None,
        resolved_at=None, state_as_of=NOW - timedelta(hours=2), dedicated_channel=True, last_event_id="E0",
        channel_requested=True, trigger_seen=True,
        status_updates=(StatusUpdate("U1", NOW - timedelta(hours=1), "Asha", "Rolling back the deploy"),))
    return replace(incident, **changes)


POLICY = ChannelPolicy(tickets=True, incident_manager_policy="PIMROTA", homes=True, reviews_on_resolve=True)
READER = PagerDutyWebhook([WEBHOOK_SECRET])


class Reader(Webhook, EventReader[EventT], Protocol[EventT]):
    """A sender's webhook as the door and then the worker read it (PagerDuty's or ServiceNow's)."""


def read(reader: Reader[Read], document: Any, ascii_only: bool) -> Read | None:
    """The document as the door and then the worker read it; None when refused or quarantined (DeliveryError)."""
    body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        delivery = reader.read_delivery(body, {})
        return reader.read_event(delivery.body, delivery.event_id)
    except DeliveryError as refused:
        assert str(refused).strip() and "\n" not in str(refused)
        note(f"refused: {refused}")
        return None


def applied(event: IncidentEvent) -> list[Decision]:
    """The event applied to the incident as known, to one resolved, and to an incident never seen; then again."""
    decisions = []
    for before in (known_incident(), known_incident(status=Status.RESOLVED, resolved_at=NOW - timedelta(minutes=5)),
                   None):
        decision = apply_event(before, event, POLICY)
        decisions.append(decision)
        again = apply_event(decision.incident, event, POLICY) if decision.incident is not None else None
        assert again is None or again.effects == ()  # a replay changes nothing
    return decisions


def check_merge_line(entry: TimelineEntry | None, document: Any) -> None:
    """A merge line names, as the incident it went into, only the incident its `resolve_reason` names (its id)."""
    if entry is None or not entry.text.startswith(MERGED_INTO):
        return
    reason = document["event"]["data"].get("resolve_reason")
    into = reason.get("incident") if isinstance(reason, dict) else None
    into_id = into.get("id") if isinstance(into, dict) else None
    assert merged_into_id(entry.text) in (None, into_id), entry.text


@given(data=st.data())
def test_new_pagerduty_event_kinds_read_apply_and_render_safely(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    document = data.draw(hostile(BASES[kind], FOCUS.get(kind, ("event", "data"))), label="document")
    event = read(READER, document, data.draw(st.booleans(), label="ascii"))
    outcome(f"{kind}: {'refused' if event is None else 'read'}")
    if event is None:
        return
    for decision in applied(event):
        entries = [decision.entry] if decision.entry is not None else []
        assert_nothing_live(*shown(decision.incident, entries))
        check_merge_line(decision.entry, document)


def _merge_by(agent: str, url: Any = "https://acme.pagerduty.com/incidents/PINTO01",
              summary: Any = "The one it went into") -> dict[str, Any]:
    body = _merge_resolve()
    body["event"]["agent"]["summary"] = agent
    body["event"]["data"]["resolve_reason"]["incident"].update(html_url=url, summary=summary)
    return body


@pytest.mark.parametrize("document", [
    # The merged-into incident's title (summary) shows before its link: a link-like text in it is not the link.
    pytest.param(_merge_by("Asha", url=None, summary="Fix (see /incidents/PVICTIM1) now"), id="title-no-url"),
    pytest.param(_merge_by("Asha", url="https://acme.pagerduty.com/incidents/PINTO01?x=1",
                           summary="see /incidents/PVICTIM1) here"), id="title-query-url"),
    # The agent's name shows after the link: the last `/incidents/<id>)` in the line is then the agent's.
    pytest.param(_merge_by("Mallory /incidents/PVICTIM1)"), id="agent-name"),
])
def test_a_merge_line_names_only_the_incident_its_resolve_reason_links(document: dict[str, Any]) -> None:
    event = read(READER, document, True)
    assert event is not None
    [decision, *_] = applied(event)
    assert decision.entry is not None and decision.entry.text.startswith(MERGED_INTO)
    check_merge_line(decision.entry, document)


def test_a_trimmed_status_update_of_dots_alone_is_news_not_a_confirmation() -> None:
    # Found in review: the prefix match for a trimmed update compared with `message.rstrip(". …")`, "" for a message
    # of dots and ellipses alone, and every text starts with "": the update published in PagerDuty confirmed the
    # bot's own unconfirmed one and was lost (no timeline line, not the latest update).
    body = _trimmed("update")
    body["event"]["data"]["message"] = "…"
    event = read(READER, body, True)
    assert event is not None
    decision = apply_event(known_incident(), event, POLICY)
    assert decision.incident is not None and decision.entry is not None
    assert [u.source for u in decision.incident.status_updates] == ["slack", "pagerduty"]
    assert not decision.incident.status_updates[0].in_pagerduty


# ----- ServiceNow: the reader and the domain --------------------------------------------------------------------------

SN_READER = ServiceNowWebhook(SN_SECRET, "pavedroad.integration")
RULES = TicketRules(integration_user="pavedroad.integration", team_for_group={"payments": "payments"},
                    page_category="page", urgency_priorities={"high": 1, "low": 5})
TICKET_FIELDS = ("previous_impact", "previous_urgency", "impact", "urgency", "previous_state", "state",
                 "previous_group", "assignment_group", "work_notes", "comments", "close_notes", "number",
                 "short_description", "category", "correlation_id", "x_pd_integration_incident", "updated_on",
                 "operation", "sys_id", "updated_by", "table")


def business_rule(**changes: Any) -> dict[str, Any]:
    """The README's business rule for a ticket that paged the incident at low urgency and is now raised."""
    return {"table": "incident", "operation": "update", "sys_id": "abc123", "number": "INC0010001",
            "short_description": "Checkout down", "state": "2", "impact": "1", "urgency": "1",
            "previous_impact": "3", "previous_urgency": "3", "previous_state": "2", "previous_group": "Payments",
            "assignment_group": "Payments", "category": "software", "correlation_id": INCIDENT_ID,
            "x_pd_integration_incident": "", "updated_by": "jane.agent", "updated_on": "2026-11-27 10:07:00",
            "work_notes": "", "comments": "", "close_notes": ""} | changes


@given(data=st.data())
@example(data=None)  # filled in below: the plain raise, as the business rule sends it
def test_servicenow_deliveries_with_previous_levels_read_decide_and_render_safely(data: st.DataObject | None) -> None:
    document: dict[str, Any] = business_rule()
    if data is not None:
        for _ in range(data.draw(st.integers(1, 5), label="mutations")):
            name = data.draw(st.sampled_from(TICKET_FIELDS[:12] + TICKET_FIELDS[:12] + TICKET_FIELDS[12:]),
                             label="field")
            how = data.draw(st.sampled_from(["text", "text", "junk", "level", "remove"]), label="how")
            if how == "remove":
                document.pop(name, None)
            else:
                document[name] = data.draw({"text": TEXT, "junk": JUNK,
                                            "level": st.sampled_from(["1", "2", "3", "01", "999", "1000", "²", "-1",
                                                                      " 1", "1.0", "", "6", "7", "8"])}[how])
    event = read(SN_READER, document, data is None or data.draw(st.booleans(), label="ascii"))
    outcome("refused" if event is None else "read")
    if event is None:
        return
    for incident in (known_incident(incident_key="servicenow:abc123", urgency="low"), known_incident(), None):
        decision = decide_ticket(event, RULES, incident, NOW, POLICY)
        entries = [decision.entry] if decision.entry is not None else []
        assert_nothing_live(*shown(decision.incident or incident, entries))
        for effect in decision.effects:
            alert = getattr(effect, "alert", None)
            if isinstance(alert, str):
                assert_nothing_live(alert)
        if decision.entry is not None:
            assert decision.entry.occurred_at.utcoffset() is not None


# ----- end to end, through the sandbox's signed routes ----------------------------------------------------------------

def slack_texts(running: RunningSandbox) -> list[str]:
    """Every message's text and the mrkdwn in its blocks, as the bot last left them."""
    return [text for m in running.sandbox.state()["slack"]["messages"]
            for text in (m.get("text") or "", *mrkdwn_texts(m.get("blocks") or []))]


async def post(running: RunningSandbox, route: str, document: Any) -> int:
    import aiohttp  # (only the end-to-end tests use it)
    body = json.dumps(document).encode()
    if route == "pagerduty":
        headers = {"X-PagerDuty-Signature": sign(running.sandbox.keys.pagerduty_webhook_secrets[0], body)}
    else:
        headers = {"X-ServiceNow-Signature": servicenow_signature(running.sandbox.keys.servicenow_webhook_secret, body)}
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/{route}/webhook", data=body,
            headers={"Content-Type": "application/json", **headers}) as response:
        return response.status


async def test_new_event_kinds_end_to_end_never_5xx_and_nothing_live_in_slack(sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()
    incident = await trigger(sandbox, title="Checkout returns 500s")
    incident_id = str(incident["id"])
    ran: list[str] = []

    async def one(kind: str, document: dict[str, Any], ticket: dict[str, Any]) -> tuple[int, int]:
        document = json.loads(json.dumps(document).replace(INCIDENT_ID, incident_id))
        document["event"]["id"] = f"review-{len(slack_texts(sandbox))}-{id(document)}"
        statuses = (await post(sandbox, "pagerduty", document),
                    await post(sandbox, "servicenow", ticket | {"correlation_id": incident_id}))
        assert max(statuses) < 500, statuses
        await settle(sandbox)
        for text in slack_texts(sandbox):
            assert not any(live in text for live in LIVE), text[:400]
        return statuses

    @settings(max_examples=6)  # each example is two deliveries applied through the whole sandbox
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(sorted(FOCUS)), label="kind")
        document = data.draw(hostile(BASES[kind], FOCUS[kind]), label="document")
        ticket = business_rule(sys_id=str(data.draw(st.uuids(), label="sys_id")),
                               work_notes=data.draw(MARKUP, label="work note"),
                               previous_group=data.draw(TEXT, label="previous group"),
                               previous_impact=data.draw(st.one_of(TEXT, JUNK), label="previous impact"))
        outcome(f"{kind}: answered {on_loop.run(one(kind, document, ticket))}")
        ran.append(kind)

    await run_property(prop)
    timeline = await sandbox.bot.store.timeline(incident_id)
    assert ran and len(timeline) > 1, [e.text[:80] for e in timeline]  # the deliveries were applied, not answered only
