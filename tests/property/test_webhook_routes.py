"""Property: whatever a signed client sends to the bot's three POST routes, it never gets a 5xx, and a 2xx only for
what became a stored delivery (Slack: what Bolt handled).

Deliveries start from what the senders really send (PagerDuty's documented samples in tests/fixtures, the business
rule's body, Slack's payloads of each kind the bot handles) and are mutated: values replaced by JSON of any type
(numbers beyond 64 bits, NaN, Infinity, lone surrogates, NUL), keys removed or added, values nested up to 5,000
levels, then written in any encoding (UTF-8, a byte-order mark, UTF-16/32, CESU-8, bytes flipped or cut). Each is
signed correctly, so it is the body, not the signature, that is under test. A stored body must be clean JSON whose
read is an event or a DeliveryError, never another exception.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from bot.adapters import wire
from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.adapters.servicenow.webhook import ServiceNowWebhook
from bot.adapters.slack.requests import SlackRequests
from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from bot.errors import DeliveryError
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user
from tests.helpers import WEBHOOK_SECRET, BotClient, envelope, fixture, incident_event, note_event, rows
from tests.web.door_helpers import (
    BLOCK_ACTIONS,
    EVENT_CALLBACK,
    SERVICENOW_SECRET,
    SLASH_COMMAND,
    VIEW_SUBMISSION,
    business_rule,
    post_pagerduty,
    post_servicenow,
    post_slack_at,
    servicenow_bot,
)

AT = "2026-11-27T10:00:00Z"
PAGERDUTY_BODIES: list[dict[str, Any]] = [
    incident_event("incident.triggered"), incident_event("incident.acknowledged", assignees=[("PU1", "Asha")]),
    incident_event("incident.resolved", priority=None), note_event("Rolled back the deploy"),
    fixture("event.incident.priority_updated.json"),
    envelope("incident.responder.added", fixture("data.incident_responder.json"), occurred_at=AT),
    envelope("incident.status_update_published", fixture("data.incident_status_update.json"), occurred_at=AT),
    envelope("incident.conference_bridge.updated", fixture("data.incident_conference_bridge.json"), occurred_at=AT),
    envelope("incident.role.assigned", fixture("data.incident_role_assignments.json"), occurred_at=AT),
    envelope("service.updated", fixture("data.service.json"), occurred_at=AT),
    envelope("pagey.ping", {}, occurred_at=AT),
]

SURROGATES = st.characters(categories=["Cs"])
TEXT = st.one_of(
    st.text(max_size=12),
    st.text(st.one_of(st.characters(), SURROGATES, st.sampled_from("\x00\ufeff\u202e\U0001f525")), max_size=8),
    st.sampled_from(["", "S\ud83d", "\x00", "P1", "PCHECKO", "incident", "incident.triggered", "2026-11-27T10:00:00Z",
                     "yesterday", "payload", "{", "[1]"]))
NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, -1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, 1e30, -0.0, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True))
JSON = st.recursive(st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8)
DEEP = "\x01deep:"  # a value to be written as this many nested arrays once the document is text


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*at, index))


def replaced(document: Any, path: tuple[Any, ...], change: Any) -> Any:
    """`document` with the value at `path` changed: `change` is the new value, or `...` to remove it."""
    if not path:
        return None if change is ... else change
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if change is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = change
    return document


@st.composite
def mutated(draw: st.DrawFn, base: Any, focus: tuple[str, ...] = ()) -> tuple[Any, int]:
    """A copy of `base` with 0 to 4 mutations, and how many; most of them under `focus`, when it is still there."""
    document = copy.deepcopy(base)
    count = draw(st.sampled_from([0, 1, 1, 2, 2, 3, 4]))
    for _ in range(count):
        every = list(paths(document))
        focused = [p for p in every if p[:len(focus)] == focus and len(p) > len(focus)]
        elsewhere = draw(st.integers(0, 3)) == 0
        path = draw(st.sampled_from(every if elsewhere or not focused else focused))
        kind = draw(st.sampled_from(["replace", "replace", "remove", "nest", "add"]))
        if kind == "replace":
            document = replaced(document, path, draw(JSON))
        elif kind == "remove":
            document = replaced(document, path, ...)
        elif kind == "nest":
            document = replaced(document, path, f"{DEEP}{draw(st.sampled_from([2, 30, 65, 200, 5000]))}")
        else:
            target = document
            for step in path:
                target = target[step]
            if isinstance(target, dict):
                target[draw(TEXT)] = draw(JSON)
    return document, count


def deep_arrays(text: str) -> str:
    while (start := text.find(json.dumps(DEEP)[:-1])) >= 0:
        end = text.index('"', start + 1)
        levels = int(text[start + len(json.dumps(DEEP)) - 1:end])
        text = text[:start] + "[" * levels + "]" * levels + text[end + 1:]
    return text


@st.composite
def written(draw: st.DrawFn, document: Any) -> tuple[bytes, bool]:
    """`document` as bytes in some encoding, and whether that is plain UTF-8 (a byte-order mark allowed)."""
    text = deep_arrays(json.dumps(document, ensure_ascii=draw(st.booleans())))
    how = draw(st.sampled_from(["utf-8"] * 8 + ["bom", "bom", "utf-16", "utf-16-le", "utf-32", "cesu-8", "flipped",
                                                 "cut"]))
    utf8 = text.encode("utf-8", "surrogatepass")  # a lone surrogate written raw: bytes no UTF-8 decoder takes
    if how == "bom":
        return b"\xef\xbb\xbf" + utf8, True
    if how in ("utf-16", "utf-16-le", "utf-32"):
        return text.encode(how, "surrogatepass"), False
    if how == "cesu-8":
        pairs = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return "".join(c if ord(c) < 0x10000 else c.encode("utf-16-le").decode("utf-16-le", "surrogatepass")
                       for c in pairs).encode("utf-8", "surrogatepass"), False
    if how == "flipped" and utf8:
        at = draw(st.integers(0, len(utf8) - 1))
        return utf8[:at] + bytes([draw(st.integers(0, 255))]) + utf8[at + 1:], False
    if how == "cut":
        return utf8[:draw(st.integers(0, len(utf8)))], False
    return utf8, True


def clean_and_readable(body: str) -> Any:
    """A stored body: text any store takes, JSON the door's reader reads."""
    assert "\x00" not in body and not any("\ud800" <= c <= "\udfff" for c in body)
    body.encode("utf-8")
    return wire.read_stored(body)


@given(data=st.data())
async def test_signed_deliveries_at_the_pagerduty_webhook_never_get_a_5xx(offline_bot: tuple[Bot, BotClient],
                                                                          data: st.DataObject) -> None:
    bot, client = offline_bot
    base = copy.deepcopy(data.draw(st.sampled_from(PAGERDUTY_BODIES), label="sample"))
    base["event"]["id"] = str(data.draw(st.uuids(), label="event id"))
    document, mutations = data.draw(mutated(base, focus=("event", "data")), label="document")
    body, plain = data.draw(written(document), label="body")
    delivery_id = data.draw(st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)
                                                 | st.sampled_from("\u00e9\u2603"), max_size=300), label="X-Webhook-Id")
    id_fine = not delivery_id or (delivery_id.isascii() and len(delivery_id.strip()) <= 255)
    # PagerDuty's rows only: the bot's own jobs record rows of their own meanwhile (a status-update reminder found due).
    before = len(rows(bot.settings.db_path, "SELECT seq FROM inbox WHERE source='pagerduty'"))
    answer = await post_pagerduty(client, body, headers={"X-Webhook-Id": delivery_id} if delivery_id else {})
    note(f"answer: {answer}")
    event(f"answered {answer.status}")
    assert answer.status < 500
    if answer.status >= 400:
        assert len(rows(bot.settings.db_path, "SELECT seq FROM inbox WHERE source='pagerduty'")) == before
        assert (mutations, plain, id_fine) != (0, True, True)
        return
    assert answer.status in (200, 202)
    event_id = json.loads(answer.text)["event_id"]
    # Stored now (202), or before (200): as this event, or as this delivery (PagerDuty's retry, X-Webhook-Id).
    stored = rows(bot.settings.db_path, "SELECT body, event_id FROM inbox WHERE event_id = ? OR delivery_id = ?",
                  (event_id, (delivery_id or "").strip() or event_id))
    assert stored and (answer.status == 200 or [row["event_id"] for row in stored] == [event_id])
    for row in stored:
        clean_and_readable(row["body"])
        with contextlib.suppress(DeliveryError):  # an event, or the reason the worker quarantines it; nothing else
            PagerDutyWebhook([WEBHOOK_SECRET]).read_event(row["body"], row["event_id"])


INTEGRATION_USER_SPELLINGS = ("pavedroad.integration", "PavedRoad.Integration", "PAVEDROAD.INTEGRATION")


@pytest.fixture
async def servicenow_offline_bot(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[tuple[Bot, BotClient]]:
    async with servicenow_bot(tmp_path, catalogue) as running:
        yield running


@given(data=st.data())
async def test_signed_deliveries_at_the_servicenow_webhook_never_get_a_5xx(
        servicenow_offline_bot: tuple[Bot, BotClient], data: st.DataObject) -> None:
    bot, client = servicenow_offline_bot
    # Sometimes the bot's own integration user (in any case): its updates are answered and never stored.
    updated_by = data.draw(st.one_of(st.just("jane.agent"), st.text(min_size=1, max_size=30),
                                     st.sampled_from(INTEGRATION_USER_SPELLINGS)), label="updated_by")
    base = business_rule(sys_id=str(data.draw(st.uuids(), label="sys_id")), updated_by=updated_by)
    document, mutations = data.draw(mutated(base), label="document")
    body, plain = data.draw(written(document), label="body")
    before = len(rows(bot.settings.db_path, "SELECT seq FROM inbox WHERE source='servicenow'"))
    answer = await post_servicenow(client, body)
    note(f"answer: {answer}")
    event(f"answered {answer.status}")
    assert answer.status < 500
    if answer.status >= 400:
        assert len(rows(bot.settings.db_path, "SELECT seq FROM inbox WHERE source='servicenow'")) == before
        assert (mutations, plain) != (0, True)
        return
    assert answer.status in (200, 202)
    delivery_id = json.loads(answer.text)["delivery"]
    if json.loads(answer.text)["status"] == "ignored":  # an echo of the bot's own update
        assert answer.status == 200 and str(json.loads(body)["updated_by"]).lower() == "pavedroad.integration"
        assert len(rows(bot.settings.db_path, "SELECT seq FROM inbox WHERE source='servicenow'")) == before
        return
    [stored] = rows(bot.settings.db_path, "SELECT body FROM inbox WHERE event_id = ?", (delivery_id,))
    clean_and_readable(stored["body"])
    with contextlib.suppress(DeliveryError):
        ServiceNowWebhook(SERVICENOW_SECRET).read_event(stored["body"], delivery_id)


# A 📌 on a message (issue 15): the listener reads the channel and the message from the event.
REACTION_ADDED = EVENT_CALLBACK | {"event_id": "Ev2", "event": {
    "type": "reaction_added", "user": "U0ASHA", "reaction": "pushpin", "item_user": "U0BEN",
    "item": {"type": "message", "channel": "C0TEAM", "ts": "1700000000.000200"}, "event_ts": "1700000001.000100"}}
SLACK_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("command", SLASH_COMMAND | {"text": "help"}), ("interaction", BLOCK_ACTIONS), ("interaction", VIEW_SUBMISSION),
    ("event", EVENT_CALLBACK), ("event", REACTION_ADDED)]


def slack_body(kind: str, document: Any, form_value: str) -> tuple[str, str]:
    """The request's text and content type, as Slack sends each kind."""
    if kind == "command" and isinstance(document, dict):
        fields = {str(k): v if isinstance(v, str) else form_value for k, v in document.items()}
        return urlencode(fields, encoding="utf-8", errors="surrogatepass"), "application/x-www-form-urlencoded"
    if kind == "interaction":
        return urlencode({"payload": deep_arrays(json.dumps(document))}), "application/x-www-form-urlencoded"
    return deep_arrays(json.dumps(document)), "application/json"


@pytest.fixture
async def slack_sandbox(sandbox: RunningSandbox) -> AsyncIterator[RunningSandbox]:
    yield sandbox
    # Answers after the ack run on the bot's follow-up workers, first come first served: once one last command is
    # answered, every earlier one has started, and stopping the bot leaves no answer unawaited.
    await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket", text="status")


@given(data=st.data())
async def test_signed_requests_at_slack_events_never_get_a_5xx(slack_sandbox: RunningSandbox,
                                                               data: st.DataObject) -> None:
    # Through the sandbox: a request the door lets in is handled by Bolt and our listeners against a real Slack.
    sandbox, door = slack_sandbox, SlackRequests(slack_sandbox.bot.settings.slack_signing_secret)
    kind, base = data.draw(st.sampled_from(SLACK_REQUESTS), label="kind")
    document, _mutations = data.draw(mutated(base), label="document")
    text, content_type = slack_body(kind, document, data.draw(TEXT, label="form value"))
    encoding = data.draw(st.sampled_from(["utf-8"] * 6 + ["utf-16", "latin-1"]), label="encoding")
    body = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    content_type = data.draw(st.sampled_from([content_type] * 4 + ["application/json", "text/plain"]),
                             label="content type")
    answer = await post_slack_at(f"{sandbox.url}/slack/events", sandbox.bot.settings.slack_signing_secret, body,
                                 content_type=content_type)
    note(f"answer: {answer}")
    event(f"answered {answer.status}")
    assert answer.status < 500
    try:
        door.read(body, {"Content-Type": content_type})
    except DeliveryError as refused:
        assert (answer.status, answer.error) == (400, str(refused))
