"""What the sandbox ServiceNow looks records up by, indexed, so a Table API call costs the same with ten tickets as
with ten thousand (a long sandbox session or soak keeps every ticket and every work note).

`RowIndex` keeps incident rows' sys_ids by the fields clients query on with `=` (the bot finds its ticket by
`correlation_id`, or the PagerDuty integration's field); `Journal` is the journal list (what
`ServiceNowEmulator.journal` always was) that also keeps its entries by sys_id and by the record they belong to.
`narrowed()` reads an encoded query for the equalities an index can answer. Every candidate an index gives is still
tested against the whole query, so an index may hold stale entries (a field since changed) but never miss one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

from sandbox.index import IndexedList
from sandbox.servicenow.query import Query

Row = dict[str, str]
# The incident's journal fields (sys_journal_field's `element`), by the label ServiceNow shows them under.
JOURNALS = {"work_notes": "Work notes", "comments": "Additional comments"}


def narrowed(query: Query, fields: Iterable[str]) -> list[tuple[str, str]] | None:
    """The (field, value) equalities one of which every matching record satisfies, when each alternative of
    `query` has a condition group made only of `field=value` on indexed fields; None when only a scan can answer."""
    indexed = set(fields)
    pairs: list[tuple[str, str]] = []
    for groups in query.alternatives:
        group = next((g for g in groups if all(c.op == "=" and c.field in indexed for c in g)), None)
        if group is None:
            return None
        pairs += [(c.field, c.value) for c in group]
    return pairs if query.alternatives else None


class RowIndex:
    """sys_ids by (field, value) for a few fields, and each row's place in its table (to answer in table order)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(fields)
        self._ids: dict[tuple[str, str], dict[str, None]] = {}
        self._place: dict[str, int] = {}

    def note(self, row: Mapping[str, str]) -> None:
        """Index a row as it is now (call after every insert or update)."""
        sys_id = row["sys_id"]
        self._place.setdefault(sys_id, len(self._place))
        for field in self.fields:
            self._ids.setdefault((field, row.get(field, "")), {})[sys_id] = None

    def candidates(self, table: Mapping[str, Row], pairs: list[tuple[str, str]]) -> list[Row]:
        """The rows of `table` an index names for any of `pairs`, in table order."""
        ids = {sys_id for pair in pairs for sys_id in self._ids.get(pair, ())}
        return [table[i] for i in sorted((i for i in ids if i in table), key=self._place.__getitem__)]


class _Entry(Protocol):
    """A journal entry (the emulator's JournalEntry), as the journal indexes it."""

    @property
    def sys_id(self) -> str: ...
    @property
    def element_id(self) -> str: ...
    def row(self) -> Row: ...


JournalEntry = TypeVar("JournalEntry", bound=_Entry)


class Journal(IndexedList[JournalEntry]):
    """The journal (sys_journal_field) in the order written, also by sys_id and by the record written on
    (sandbox/index.py keeps the indexes whole)."""

    def entry(self, sys_id: str) -> JournalEntry | None:
        return self._by_sys_id.get(sys_id)

    def on(self, record_sys_id: str) -> list[JournalEntry]:
        """The entries written on one record, oldest first."""
        return list(self._by_record.get(record_sys_id, ()))

    def rows(self, pairs: list[tuple[str, str]] | None) -> dict[str, Row]:
        """sys_journal_field as rows by sys_id: those on the records `pairs` name by element_id (or by sys_id), or
        all of them when `pairs` is None."""
        if pairs is None:
            return {e.sys_id: e.row() for e in self}
        chosen: dict[str, JournalEntry] = {}
        for field, value in pairs:
            found = self.on(value) if field == "element_id" else [self._by_sys_id[value]] \
                if field == "sys_id" and value in self._by_sys_id else []
            chosen.update((e.sys_id, e) for e in found)
        return {e.sys_id: e.row() for e in sorted(chosen.values(), key=lambda e: self._place[e.sys_id])}

    def _note(self, entry: JournalEntry) -> None:
        self._place[entry.sys_id] = len(self._place)
        self._by_sys_id[entry.sys_id] = entry
        self._by_record.setdefault(entry.element_id, []).append(entry)

    def _forget_all(self) -> None:
        self._place: dict[str, int] = {}
        self._by_sys_id: dict[str, JournalEntry] = {}
        self._by_record: dict[str, list[JournalEntry]] = {}
