"""The emulators' indexed logs (sandbox/index.py's IndexedList: PagerDuty's notes and log entries by incident,
ServiceNow's journal by record and sys_id) agree with a plain scan of the list after any sequence of list
operations — including `+=`, `*=`, sort and reverse, which list's own methods would do without telling the index."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sandbox.pagerduty.index import PerIncident
from sandbox.pagerduty.model import Note
from sandbox.servicenow.emulator import JournalEntry
from sandbox.servicenow.index import Journal

INCIDENTS = ("Q1", "Q2", "Q3")
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def note(n: int) -> Note:
    return Note(id=f"N{n}", incident_id=INCIDENTS[n % 3], user_id="P1", content=f"note {n}", created_at=WHEN)


def entry(n: int) -> JournalEntry:
    return JournalEntry(sys_id=f"j{n}", element_id=INCIDENTS[n % 3], element="work_notes", value=f"note {n}",
                        created_by="pavedroad", created_on="2026-12-01 00:00:00")


def operations(make: Callable[[int], Any]) -> st.SearchStrategy[list[Callable[[list[Any]], object]]]:
    """List operations, each taking the list it changes."""
    items = st.integers(0, 50).map(make)
    at = st.integers(-3, 3)
    return st.lists(st.one_of(
        items.map(lambda item: lambda xs: xs.append(item)),
        st.lists(items, max_size=3).map(lambda more: lambda xs: xs.extend(more)),
        st.lists(items, max_size=3).map(lambda more: lambda xs: xs.__iadd__(more)),
        st.just(lambda xs: xs.__imul__(2)),
        st.tuples(at, items).map(lambda p: lambda xs: xs.insert(*p)),
        st.tuples(at, items).map(lambda p: lambda xs: xs and xs.__setitem__(p[0] % len(xs), p[1])),
        at.map(lambda i: lambda xs: xs and xs.pop(i % len(xs))),
        at.map(lambda i: lambda xs: xs and xs.__delitem__(slice(i % len(xs), None))),
        st.just(lambda xs: xs and xs.remove(xs[0])),
        st.just(lambda xs: xs.sort(key=lambda item: item.content if isinstance(item, Note) else item.value)),
        st.just(lambda xs: xs.reverse()),
        st.just(lambda xs: xs.clear()),
    ), max_size=12)


@given(operations(note))
def test_per_incident_agrees_with_a_scan(changes: list[Callable[[list[Note]], object]]) -> None:
    notes = PerIncident[Note]([note(1), note(2)])
    for change in changes:
        change(notes)
        for incident in INCIDENTS:
            assert notes.of(incident) == [n for n in notes if n.incident_id == incident]


@given(operations(entry))
def test_the_journal_agrees_with_a_scan(changes: list[Callable[[list[JournalEntry]], object]]) -> None:
    journal = Journal[JournalEntry]([entry(1), entry(2)])
    for change in changes:
        change(journal)
        for record in INCIDENTS:
            assert journal.on(record) == [e for e in journal if e.element_id == record]
        for written in journal:
            assert journal.entry(written.sys_id) is not None
        assert journal.rows(None) == {e.sys_id: e.row() for e in journal}
