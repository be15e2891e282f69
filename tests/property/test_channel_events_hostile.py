"""Slack's `pin_removed` and `member_joined_channel` events, hostile, delivered by the sandbox's Slack as signed Events
API requests (and over Socket Mode) to the bot (commands/listeners.py `_recorded_before_ack`, bot/services/
channel_events.py): each is recorded in the store before its ack, and a recording that raises is answered 500, so
Slack sends the event again — which only a store failure may cause. An odd shape (a field of the wrong type, null,
huge, removed, a nested object where a string goes, another channel's id or the bot's own user where Slack would not
put them) is answered 200 and does nothing it does not name, or, over HTTP, is refused 400 at the door (a lone
surrogate, a field of the wrong type: bot/adapters/slack/requests.py; a body Bolt cannot read: bot/app/web.py). Over
Socket Mode no door refuses anything: every event is acknowledged.

Three incidents give the events real paths to reach: one with its own channel and its card pinned there (an unpin of
it is pinned again), one with its own channel the bot was removed from (the bot's join asks Slack whether it is back),
and one whose card is in its team's channel (not its own: nothing is done there). Candidate values are their channels,
their cards' ts and the bot's user, besides junk. After every delivery the bot has settled: nothing dead in its outbox,
every effect queued was for an incident the event really named (its own channel, its card), the first card is pinned
in Slack — again, after a real unpin whose event named it — and the bot is still out of the second channel. At the
end the bot still serves: a real unpin is pinned again, a real invitation back sets the channel's topic again, and
a change to the first incident reaches its card.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import Phase, given, note, settings
from hypothesis import event as outcome
from hypothesis import strategies as st
from psycopg.rows import dict_row
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.catalogue import Catalogue
from sandbox.slack.channel_acts import invite_as_person, unpin_as_person
from sandbox.slack.person import deliver_envelope, event_envelope
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, card, incident_channels, messages, settle, slack_user, state, trigger
from tests.e2e.servicenow_helpers import settle_all
from tests.helpers import StartSandbox, rows
from tests.pg_cluster import PostgresCluster
from tests.property.loop_bridge import OnTheLoop, run_property

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
ASHA = "asha.patel@example.com"
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "<!channel>", "<#C0HOSTILE>", "<@U0HOSTILE>", "\u202eevil", "x\x00y", "\ud83d",
                     "\udc00", "é😀", "message", "file", "C", "G", "None", "null", "0", "1.5"]),
    st.builds(lambda piece, times: piece * times, st.sampled_from(["a", "é😀", "<!here>", "C0"]),
              st.integers(81, 5_000)))
JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63),
              st.floats(allow_nan=False, allow_infinity=False), TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.one_of(TEXT, st.sampled_from(
        ["id", "ts", "channel", "type", "message"])), inner, max_size=3),
    max_leaves=5)


@dataclass(frozen=True)
class Scene:
    """What the events may name: the three incidents' ids, channels and cards' ts, the bot's user and a person's."""

    pinned: str  # the incident whose card is pinned in its own channel
    removed: str  # the incident whose own channel the bot was removed from
    shared: str  # the incident whose card is in its team's channel
    channels: dict[str, str]  # incident id → the channel its card is in
    cards: dict[str, str]  # incident id → its card's ts
    bot: str
    person: str

    def candidates(self) -> list[Any]:
        ids = [*self.channels.values(), *self.cards.values(), self.bot, self.person]
        # The same values in another type or shape: as Slack never sends them, they name nothing.
        return [*ids, *([i] for i in ids), *({"id": i} for i in ids), *(i + " " for i in ids),
                *(float(ts) for ts in self.cards.values())]


def not_i_json(value: Any) -> bool:
    """Whether a lone surrogate (half a character) is anywhere in `value`, its keys included."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(not_i_json(k) or not_i_json(v) for k, v in value.items())
    if isinstance(value, list):
        return any(not_i_json(item) for item in value)
    return False


# The door's shape of an event and of the parts in it (bot/adapters/slack/requests.py `Part`), where Bolt looks for
# who acted and where: a field of another type is refused 400, naming the field.
_TEXTS = ("type", "subtype", "ts", "thread_ts", "channel_type", "function_execution_id")
_IDS = ("user", "channel", "team")  # an id, or an object whose `id` is one
_PARTS = ("message", "previous_message", "item", "assistant_thread")


def an_id(value: Any) -> bool:
    """Whether the door takes `value` where Slack names a user, channel or team: an id, or an object with one."""
    return value is None or isinstance(value, str) or (isinstance(value, dict)
                                                       and isinstance(value.get("id", ""), str | None))


def off_shape(part: Any) -> bool:
    """Whether the door refuses this event (or a part of it) for a field of the wrong type."""
    if not isinstance(part, dict):
        return True
    return (any(part.get(name) is not None and not isinstance(part[name], str) for name in _TEXTS)
            or not all(an_id(part.get(name)) for name in _IDS)
            or any(part.get(name) is not None and off_shape(part[name]) for name in _PARTS))


def bolt_refuses(envelope: dict[str, Any]) -> bool:
    """Whether Bolt cannot make a request of this body: the door's other 400 (bot/app/web.py)."""
    try:
        AsyncBoltRequest(body=json.dumps(envelope), headers={"content-type": ["application/json"]})
    except Exception:
        return True
    return False


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], focus: list[tuple[str, ...]], scene: Scene) -> dict[str, Any]:
    """`base` with 0 to 4 of its values — mostly those at `focus` — replaced by junk or a value that names something
    real (another channel, another card, the bot), removed, or given an odd sibling."""
    event = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 4), label="mutations")):
        present = [p for p in paths(event) if p != ("type",)]
        focused = [p for p in present if p in focus]
        elsewhere = draw(st.integers(0, 3)) == 0
        path = draw(st.sampled_from(focused if focused and not elsewhere else present or [("user",)]))
        parent: Any = event
        for step in path[:-1]:
            parent = parent[step]
        how = draw(st.sampled_from(["real", "real", "text", "junk", "remove", "add"]))
        if how == "add" and not isinstance(parent[path[-1]], dict):
            how = "text"
        if how == "remove":
            del parent[path[-1]]
        elif how == "add":
            parent[path[-1]][draw(st.sampled_from(["id", "ts", "channel", "user", "type", "message"]))] = draw(
                st.one_of(st.sampled_from(scene.candidates()), JUNK))
        else:
            parent[path[-1]] = draw({"real": st.sampled_from(scene.candidates()), "text": TEXT, "junk": JUNK}[how])
    return event


def unpin_event(scene: Scene, incident_id: str, user: str) -> dict[str, Any]:
    """A `pin_removed` of the incident's card, as Slack sends it (sandbox/slack/channel_acts.py `unpin_as_person`)."""
    channel, ts = scene.channels[incident_id], scene.cards[incident_id]
    return {"type": "pin_removed", "user": user, "channel_id": channel, "item_user": scene.bot,
            "item": {"type": "message", "channel": channel, "created": 1_764_237_600, "created_by": scene.bot,
                     "message": {"type": "message", "user": scene.bot, "text": "card", "ts": ts}},
            "pin_count": "0", "has_pins": False, "event_ts": "1764237601.000100"}


def join_event(scene: Scene, incident_id: str, user: str) -> dict[str, Any]:
    """A `member_joined_channel` to the incident's card's channel (`invite_as_person`)."""
    return {"type": "member_joined_channel", "user": user, "channel": scene.channels[incident_id],
            "channel_type": "C", "team": "T0SANDBOX", "inviter": scene.person, "event_ts": "1764237601.000200"}


PIN_FOCUS: list[tuple[str, ...]] = [("user",), ("channel_id",), ("item",), ("item", "type"), ("item", "channel"),
                                    ("item", "message"), ("item", "message", "ts")]
JOIN_FOCUS: list[tuple[str, ...]] = [("user",), ("channel",), ("channel_type",), ("inviter",)]


def named_by_unpin(event: dict[str, Any], scene: Scene) -> set[str]:
    """The incidents an unpin may be taken to name: a channel it gives (`channel_id` or the item's) and its message's
    ts are an incident's card's, as strings, and it is by someone other than the bot. (A superset: effects are
    checked to be for these only.)"""
    item = event.get("item")
    message = item.get("message") if isinstance(item, dict) else None
    if not isinstance(item, dict) or item.get("type") != "message" or not isinstance(message, dict):
        return set()
    if event.get("user") == scene.bot:
        return set()
    said = [event.get("channel_id"), item.get("channel")]
    ts = message.get("ts")
    return {i for i, channel in scene.channels.items()
            if channel in said and isinstance(ts, str) and ts == scene.cards[i]}


def named_by_join(event: dict[str, Any], scene: Scene) -> set[str]:
    """The incident a join really names: the bot itself (as a string) joining that incident's own channel."""
    if event.get("user") != scene.bot:
        return set()
    return {i for i, channel in scene.channels.items() if event.get("channel") == channel}


def a_valid_unpin(event: dict[str, Any], scene: Scene) -> bool:
    """Whether `event` is the unpin of the first card by a person, as Slack would send it: past the door, its user a
    person's, its channel and message the card's (the rest may be odd)."""
    item = event.get("item")
    message = item.get("message") if isinstance(item, dict) else None
    channel = scene.channels[scene.pinned]
    return (not off_shape(event) and not not_i_json(event) and isinstance(event.get("user"), str)
            and event.get("user") != scene.bot and isinstance(item, dict)
            and item.get("type") == "message" and isinstance(message, dict)
            and message.get("ts") == scene.cards[scene.pinned]
            and (event.get("channel_id") == channel or ("channel_id" not in event and item.get("channel") == channel)))


def slack_channel(running: RunningSandbox, channel_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in state(running)["slack"]["channels"] if c["id"] == channel_id)
    return found


class Outbox:
    """The bot's outbox as committed, read through a connection of the test's own (the store's ports do not list the
    effects queued): on SQLite or on PostgreSQL (`database_url`)."""

    def __init__(self, running: RunningSandbox, database_url: str | None) -> None:
        self.running, self.database_url = running, database_url

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        if self.database_url is None:
            return rows(self.running.bot.settings.db_path, sql.replace("%s", "?"), params)
        with psycopg.connect(self.database_url, row_factory=dict_row) as connection:
            return list(connection.execute(sql, params))

    def since(self, seq: int) -> list[dict[str, Any]]:
        """The effects queued after `seq`, in order."""
        return self._read("SELECT seq, incident_id, kind, payload, state FROM outbox WHERE seq > %s ORDER BY seq",
                          (seq,))

    def last_seq(self) -> int:
        return int(self._read("SELECT COALESCE(MAX(seq), 0) AS seq FROM outbox")[0]["seq"])


async def set_scene(running: RunningSandbox) -> Scene:
    """Three incidents (see the module's docstring), settled."""
    slack = running.sandbox.slack
    pinned = await trigger(running, title="Checkout returns 500s")
    removed = await trigger(running, title="Basket totals are wrong")
    shared = await trigger(running, title="Slow basket page", urgency="low")
    await settle_all(running)
    ids = [str(i["id"]) for i in (pinned, removed, shared)]
    footprints = {i: await running.bot.store.footprint(i) for i in ids}
    channels = {i: str(f.channel_id) for i, f in footprints.items()}
    cards = {i: str(f.card_ts) for i, f in footprints.items()}
    assert len(set(channels.values())) == 3 and len(incident_channels(running)) == 2, channels
    room = slack.find_channel(channels[ids[1]])
    assert room is not None
    room.members.remove(slack.bot.id)  # removed; learnt by the topic call the acknowledgement makes
    await act(running, ids[1], "acknowledge", user=ASHA)
    await settle_all(running)
    assert (await running.bot.store.footprint(ids[1])).bot_removed
    pinned_id, removed_id, shared_id = ids
    return Scene(pinned_id, removed_id, shared_id, channels=channels, cards=cards, bot=slack.bot.id,
                 person=slack_user(running, ASHA))


async def card_pinned(running: RunningSandbox, scene: Scene) -> bool:
    channel = slack_channel(running, scene.channels[scene.pinned])
    footprint = await running.bot.store.footprint(scene.pinned)
    return scene.cards[scene.pinned] in channel["pins"] and footprint.card_pinned


@pytest.mark.parametrize("how", ["sqlite", "postgres", "socket mode"])
async def test_hostile_unpins_and_joins_are_answered_200_and_touch_only_what_they_name(
        request: pytest.FixtureRequest, start_sandbox: StartSandbox, catalogue: Catalogue, how: str) -> None:
    """Over HTTP with the bot on SQLite, and on PostgreSQL (whose text refuses more than SQLite's: what recording
    an odd event asks of the store must not make the store refuse it); and over Socket Mode, where no door refuses
    an event's shape before Bolt and the listeners have it."""
    database_url = None
    if how == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        database_url = cluster.url(cluster.fresh_database())
    # Low urgency has no channel of its own: its card goes to the team's channel (PBASKET's #team-basket).
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    sandbox = await start_sandbox(catalogue.model_copy(update={"channels": policy}), database_url=database_url,
                                  socket_mode=how == "socket mode")
    assert sandbox.sandbox.slack.socket_mode.connected == (how == "socket mode")
    outbox = Outbox(sandbox, database_url)
    on_loop = OnTheLoop()
    slack = sandbox.sandbox.slack
    # The jobs (the cards' refreshes each minute and five, by the wall clock) are paused while the events come: every
    # effect queued meanwhile is then an event's.
    scheduler = sandbox.bot.scheduler
    assert scheduler is not None
    scheduler.pause()
    scene = await set_scene(sandbox)
    pinned_channel = scene.channels[scene.pinned]

    async def deliver(event: dict[str, Any]) -> int:
        status = (await deliver_envelope(slack, event_envelope(slack, event)))["status"]
        await settle(sandbox)
        return int(status or 0)

    async def one(event: dict[str, Any], really: bool) -> tuple[int, list[dict[str, Any]], bool]:
        """`event` delivered, the card unpinned in Slack first when `really`: the answer, what was queued, and whether
        the card is pinned then. Unpinned and not pinned again, Slack's own event of the unpin comes after."""
        unpinned = unpin_as_person(slack, ASHA, pinned_channel, scene.cards[scene.pinned]).events if really else []
        since = outbox.last_seq()
        envelope = event_envelope(slack, event)
        status = int((await deliver_envelope(slack, envelope))["status"] or 0)
        await settle(sandbox)  # (recorded before the answer: what it queued is performed once the bot has settled)
        queued = outbox.since(since)
        pinned_after = await card_pinned(sandbox, scene)
        for real in unpinned if not pinned_after else []:  # the event did not name it
            assert await deliver(real) == 200
        return status, queued, pinned_after

    # Each example is a delivery to the bot and what it sets off, settled: no shrinking (see the rename property,
    # tests/property/test_channel_rename_events_hostile.py), and the labelled draws of an example are readable as
    # they are.
    @settings(max_examples=100, phases=[Phase.explicit, Phase.reuse, Phase.generate], deadline=None)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["pin_removed", "member_joined_channel"]), label="kind")
        # The unpins mostly of the pinned card, the joins mostly to the channel the bot was removed from.
        likely = scene.pinned if kind == "pin_removed" else scene.removed
        target = data.draw(st.sampled_from([likely, likely, scene.pinned, scene.removed, scene.shared]), label="target")
        really = False
        if kind == "pin_removed":
            user = data.draw(st.sampled_from([scene.person, scene.person, scene.bot]), label="user")
            really = target == scene.pinned and user == scene.person and data.draw(st.booleans(),
                                                                                   label="really unpinned")
            event = data.draw(mutated(unpin_event(scene, target, user), PIN_FOCUS, scene), label="event")
            named = named_by_unpin(event, scene)
        else:
            user = data.draw(st.sampled_from([scene.bot, scene.bot, scene.person]), label="user")
            event = data.draw(mutated(join_event(scene, target, user), JOIN_FOCUS, scene), label="event")
            named = named_by_join(event, scene)
        # Unpinned in Slack only once every draw is made: a draw may end the example (too much data), and the card
        # was left unpinned with no event to say so.
        status, queued, pinned_after = on_loop.run(one(event, really))
        note(f"answered {status}; queued {[(q['kind'], q['incident_id'], q['state']) for q in queued]}")
        refused = how != "socket mode" and (not_i_json(event) or off_shape(event))
        assert status == (400 if refused else 200) or (
            status == 400 and bolt_refuses({"type": "event_callback", "event": event})), (status, refused)
        # Nothing for an incident the event did not name, nor for a channel not the incident's own.
        assert {q["incident_id"] for q in queued} <= named - {scene.shared}, (named, queued)
        for q in queued:
            channel = json.loads(q["payload"]).get("channel_id")
            assert channel in (None, scene.channels[q["incident_id"]]), q
        assert [q for q in queued if q["state"] == "dead"] == [], queued
        # The card is pinned: never unpinned by the bot, and pinned again after a real unpin its event named.
        if not really or a_valid_unpin(event, scene):
            assert pinned_after, (event, queued)
        assert on_loop.run(card_pinned(sandbox, scene))
        assert on_loop.run(sandbox.bot.store.footprint(scene.removed)).bot_removed  # still out: Slack says so
        outcome(f"{kind}: {status}, {'named ' + str(len(named)) if named else 'names nothing'}"
                f"{', really unpinned' if really else ''}")

    await run_property(prop)
    scheduler.resume()
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    # Still serving: a real unpin is pinned again, the bot invited back sets the topic again, a change reaches a card.
    [unpin] = unpin_as_person(slack, ASHA, pinned_channel, scene.cards[scene.pinned]).events
    assert await deliver(unpin) == 200
    assert await card_pinned(sandbox, scene)
    [join] = invite_as_person(slack, ASHA, scene.channels[scene.removed], slack.bot.name).events
    assert await deliver(join) == 200
    assert not (await sandbox.bot.store.footprint(scene.removed)).bot_removed
    assert slack_channel(sandbox, scene.channels[scene.removed])["topic"].startswith("🟠 Acknowledged · ")
    await act(sandbox, scene.pinned, "acknowledge", user=ASHA)
    await settle_all(sandbox)
    channel = slack_channel(sandbox, pinned_channel)
    assert "Acknowledged" in json.dumps(card(sandbox, channel)["blocks"]), messages(sandbox, pinned_channel)


@pytest.mark.parametrize("odd", ["pin_removed by a number", "member_joined_channel to a number", "joined by true"])
async def test_an_event_bolt_cannot_read_is_acknowledged_over_socket_mode(start_sandbox: StartSandbox,
                                                                         odd: str) -> None:
    """Found by the property above: over Socket Mode an event whose `user` or `channel` is a number or a boolean was
    never acknowledged — Bolt's adapter builds its request before the bot's code sees it (slack_bolt's
    `extract_user_id`: `"id" in 1.5`) and raises a TypeError, logged at ERROR, so Slack sent it again and again. Over
    HTTP the door refuses it 400 (a field of the wrong type). Fails until bot/app/socket_mode.py acknowledges a
    request Bolt cannot read, as bot/app/web.py refuses it (reported; the fix is not this test's)."""
    sandbox = await start_sandbox(socket_mode=True)
    slack = sandbox.sandbox.slack
    incident = await trigger(sandbox)
    await settle_all(sandbox)
    footprint = await sandbox.bot.store.footprint(str(incident["id"]))
    channel, ts = str(footprint.channel_id), str(footprint.card_ts)
    person = slack_user(sandbox, ASHA)
    event: dict[str, Any] = {
        "pin_removed by a number": {"type": "pin_removed", "user": 1.5, "channel_id": channel,
                                    "item": {"type": "message", "channel": channel, "message": {"ts": ts}}},
        "member_joined_channel to a number": {"type": "member_joined_channel", "user": slack.bot.id, "channel": 5,
                                              "inviter": person},
        "joined by true": {"type": "member_joined_channel", "user": True, "channel": channel, "inviter": person},
    }[odd]
    answered = await deliver_envelope(slack, event_envelope(slack, event))
    assert answered == {"type": event["type"], "status": 200}, answered
    # And the bot goes on: a real unpin of the card is pinned again.
    [unpin] = unpin_as_person(slack, ASHA, channel, ts).events
    assert (await deliver_envelope(slack, event_envelope(slack, unpin)))["status"] == 200
    await settle(sandbox)
    assert ts in slack_channel(sandbox, channel)["pins"]
