"""The SQLite store thread's decoded incidents (bot/adapters/store/sqlite/known_incidents.py): a row read again
unchanged gives the incident already decoded; a changed row, or one written by a transaction rolled back, is decoded
from what is stored; only the latest are kept."""

from __future__ import annotations

from dataclasses import replace

from bot.adapters.store.codec import incident_from_json, incident_to_json
from bot.adapters.store.sqlite.known_incidents import KnownIncidents
from tests.store.contract.builders import trigger


def opened(incident_id: str, number: int = 1) -> tuple[str, str]:
    incident = trigger(incident_id, number=number).incident
    assert incident is not None
    return incident.id, incident_to_json(incident)


def test_an_unchanged_row_is_not_decoded_again_and_a_changed_one_is() -> None:
    known = KnownIncidents()
    incident_id, text = opened("Q1")
    first = known.decode(incident_id, text)
    assert first == incident_from_json(text)
    assert known.decode(incident_id, text) is first
    changed = incident_to_json(replace(first, title="Database down"))
    assert known.decode(incident_id, changed) == replace(first, title="Database down")
    assert known.decode(incident_id, text) == first  # back as it was: decoded from the row, whatever came between


def test_an_incident_written_is_known_by_its_text_and_only_by_it() -> None:
    known = KnownIncidents()
    incident_id, text = opened("Q1")
    written = replace(incident_from_json(text), title="Written")
    known.remember(incident_id, incident_to_json(written), written)
    assert known.decode(incident_id, incident_to_json(written)) is written
    # The write was rolled back: the row still holds the old text, which is decoded.
    assert known.decode(incident_id, text) == incident_from_json(text)


def test_only_the_latest_incidents_are_kept() -> None:
    known = KnownIncidents(limit=2)
    rows = [opened(f"Q{n}", n) for n in range(3)]
    decoded = [known.decode(incident_id, text) for incident_id, text in rows]
    assert known.decode(*rows[2]) is decoded[2] and known.decode(*rows[1]) is decoded[1]
    again = known.decode(*rows[0])  # the oldest was forgotten
    assert again == decoded[0] and again is not decoded[0]
