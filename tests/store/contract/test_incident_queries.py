"""The Incidents port's narrow reads — what a handover, `/incident status`, the App Home and the archiving job show,
asked for by service, time and status rather than by reading every incident — and the channels of the incidents a
post lists, in one read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.incident import Decision, Incident, Status
from bot.ports.store import Store
from tests.domain.handover_shift import END, START, incident, utc
from tests.store.contract.builders import commit

PAYMENTS, BASKET, SEARCH = "PPAYMNT", "PBASKET", "PSEARCH"


def of(service_id: str, made: Incident) -> Incident:
    return replace(made, service_id=service_id)


# The shift is Friday 09:00 → 17:30 (tests/domain/handover_shift.py); the pending list looks back to Thursday 17:30.
SINCE = END - timedelta(days=1)
AROUND_THE_SHIFT = [
    of(PAYMENTS, incident(1, "2026-11-20T08:00", "2026-11-20T08:05", "2026-11-20T09:00")),  # last week: history
    of(PAYMENTS, incident(2, "2026-11-01T10:00", "2026-11-01T10:01")),  # weeks ago, still open
    of(PAYMENTS, incident(3, "2026-11-27T10:00", "2026-11-27T10:04", "2026-11-27T11:02")),  # in the shift, resolved
    of(BASKET, incident(4, "2026-11-27T12:00")),  # in the shift, open
    of(PAYMENTS, incident(5, "2026-11-26T20:00", "2026-11-26T20:05", "2026-11-26T21:00")),  # resolved in the look-back
    of(SEARCH, incident(6, "2026-11-27T11:00")),  # another rota's service
    of(PAYMENTS, incident(7, "2026-11-27T17:30")),  # the next shift's (triggered at the end)
    of(PAYMENTS, incident(8, "2026-11-27T09:30", status=Status.RESOLVED)),  # first seen resolved, in the shift
    of(BASKET, incident(9, "2026-11-25T10:00", status=Status.RESOLVED)),  # first seen resolved, days ago
    of(BASKET, incident(10, "2026-11-27T08:00", "2026-11-27T08:10", "2026-11-27T18:00")),  # resolved after the end
]


async def test_a_handover_reads_the_shifts_the_open_and_the_recently_resolved_of_its_services(store: Store) -> None:
    await store.add_history(AROUND_THE_SHIFT, [], now=100.0)
    found = await store.incidents_open_during([PAYMENTS, BASKET], SINCE, END)
    # By trigger time: #2 (open for weeks), #5 (resolved in the look-back), #10, #8, #3, #4.
    assert [i.number for i in found] == [2, 5, 10, 8, 3, 4]
    assert found[-1] == AROUND_THE_SHIFT[3]  # whole incidents, as stored
    assert [i.number for i in await store.incidents_open_during([PAYMENTS, BASKET], START, END)] == [2, 10, 8, 3, 4]
    assert [i.number for i in await store.incidents_open_during([SEARCH], START, END)] == [6]
    assert await store.incidents_open_during([], START, END) == []
    assert await store.incidents_open_during(["PNOBODY"], START, END) == []


async def test_an_incident_resolved_later_leaves_the_next_shifts_handover(store: Store) -> None:
    open_one = of(PAYMENTS, incident(1, "2026-11-27T10:00"))
    await store.add_history([open_one], [], now=100.0)
    next_shift = (END, END + timedelta(hours=15, minutes=30))
    assert [i.number for i in await store.incidents_open_during([PAYMENTS], *next_shift)] == [1]
    # Resolved during the next shift: still in its handover. A shift later, history.
    resolved = replace(open_one, status=Status.RESOLVED, resolved_at=utc("2026-11-27T20:00"))
    await _rewrite(store, resolved)
    assert [i.number for i in await store.incidents_open_during([PAYMENTS], *next_shift)] == [1]
    assert await store.incidents_open_during([PAYMENTS], next_shift[1], next_shift[1] + timedelta(hours=8)) == []


async def test_open_incidents_are_the_triggered_and_acknowledged_by_number(store: Store) -> None:
    await store.add_history(AROUND_THE_SHIFT, [], now=100.0)
    assert [i.number for i in await store.open_incidents()] == [2, 4, 6, 7]


async def test_the_archiving_job_reads_incidents_resolved_in_its_window_with_a_channel_of_their_own(
        store: Store) -> None:
    await store.add_history(AROUND_THE_SHIFT, [], now=100.0)
    for number in (1, 3, 5, 10, 4):
        await store.update_footprint(f"P{number}", channel_id=f"C{number}")
    await store.update_footprint("P5", shared_channel=True)  # the card lives in a team channel: not archived
    found = await store.resolved_with_own_channel(utc("2026-11-20T00:00"), utc("2026-11-27T18:00"))
    # By resolve time; #10 (resolved at 18:00, the window's end) is not in it, nor #4 (open), #8 (no channel).
    assert [(i.number, channel) for i, channel in found] == [(1, "C1"), (3, "C3")]
    assert found[0][0] == AROUND_THE_SHIFT[0]
    assert [i.number for i, _ in await store.resolved_with_own_channel(utc("2026-11-27T00:00"),
                                                                       utc("2026-11-28T00:00"))] == [3, 10]


async def test_a_reopened_incident_is_not_archived(store: Store) -> None:
    resolved = of(PAYMENTS, incident(1, "2026-11-27T10:00", "2026-11-27T10:04", "2026-11-27T11:02"))
    await store.add_history([resolved], [], now=100.0)
    await store.update_footprint("P1", channel_id="C1")
    window = (utc("2026-11-27T00:00"), utc("2026-11-28T00:00"))
    assert [i.number for i, _ in await store.resolved_with_own_channel(*window)] == [1]
    await _rewrite(store, replace(resolved, status=Status.TRIGGERED, resolved_at=None))
    assert await store.resolved_with_own_channel(*window) == []


async def test_the_channels_of_many_incidents_come_in_one_read(store: Store) -> None:
    for number in range(1, 1201):
        await store.update_footprint(f"P{number}", channel_id=f"C{number}" if number % 3 else None)
    await store.update_footprint("P2", shared_channel=True)  # a shared channel is still where the card is
    wanted = [f"P{n}" for n in range(1, 1201)] + ["P1", "PNONE"]
    channels = await store.channels_of(wanted)
    assert channels == {f"P{n}": f"C{n}" for n in range(1, 1201) if n % 3}
    assert await store.channels_of([]) == {}


async def _rewrite(store: Store, changed: Incident) -> None:
    """Store a later state of an incident the way the worker does (a decision applied from the inbox)."""
    await commit(store, Decision(changed, None, ()), now=200.0)
