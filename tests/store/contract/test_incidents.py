"""The Incidents port: incidents as last decided, found by id or number, and their timelines in the order things
happened, with the Slack ts of each posted line."""

from __future__ import annotations

from bot.domain.effects import AlertOperators
from bot.ports.store import Store
from tests.store.contract.builders import commit, line, note, resolve, trigger


async def test_an_incident_is_found_by_id_or_number_as_last_decided(store: Store) -> None:
    first = trigger("Q1", number=7)
    assert first.incident is not None
    done = resolve(first.incident)
    await commit(store, first, trigger("Q2", number=8))
    assert await store.incident("Q1") == first.incident
    await commit(store, done)
    assert await store.incident("Q1") == done.incident
    assert await store.incident_by_number(7) == done.incident
    assert await store.incident("Q9") is None
    assert await store.incident_by_number(9) is None


async def test_of_two_incidents_with_one_number_the_latest_updated_is_found(store: Store) -> None:
    older, newer = trigger("Q1", number=7), trigger("Q2", number=7)
    await commit(store, older, now=10.0)
    await commit(store, newer, now=20.0)
    assert await store.incident_by_number(7) == newer.incident


async def test_the_open_incidents_come_by_number(store: Store) -> None:
    third, first, second = trigger("Q3", number=3), trigger("Q1", number=1), trigger("Q2", number=2)
    assert second.incident is not None
    await commit(store, third, first, second, resolve(second.incident))
    assert [i.id for i in await store.open_incidents()] == ["Q1", "Q3"]


async def test_the_timeline_is_in_the_order_things_happened_and_a_line_is_stored_once(store: Store) -> None:
    await commit(store, note("Q1", "late", minute=9), note("Q1", "early", minute=2), note("Q2", "other", minute=1),
                 note("Q1", "same-minute", minute=9))
    await commit(store, note("Q1", "early", minute=2, text="delivered again"))
    assert [e.id for e in await store.timeline("Q1")] == ["early", "late", "same-minute"]
    assert (await store.timeline("Q1"))[0] == line("Q1", "early", minute=2)
    assert await store.timeline("Q9") == []


async def test_a_line_remembers_its_slack_message(store: Store) -> None:
    await commit(store, note("Q1", "n1", minute=1))
    assert await store.timeline_entry("n1") == (line("Q1", "n1", minute=1), None)
    await store.set_timeline_ts("n1", "1700000000.000100")
    assert await store.timeline_entry("n1") == (line("Q1", "n1", minute=1), "1700000000.000100")
    assert await store.timeline_entry("missing") is None


async def test_the_incident_report_is_its_timeline_and_its_dead_effects(store: Store) -> None:
    opening = trigger("Q1")
    assert opening.entry is not None
    await commit(store, opening, trigger("Q2", number=2))
    for row in await store.due_effects(now=100.0, limit=10, busy=[]):
        await store.effect_dead(row.seq, "is_archived", AlertOperators("operators", "dead"), now=100.0)
    timeline, dead = await store.incident_report("Q1")
    assert timeline == [opening.entry]
    assert [(d["incident_id"], d["kind"], d["last_error"]) for d in dead] == [
        ("Q1", "open_incident_channel", "is_archived")]
