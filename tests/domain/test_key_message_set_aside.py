"""A key message set aside (quarantined): what `delivery_quarantined` queues for its mark and for the message read
back — word to whoever marked it, once, besides the operators' alert; nobody told for a read recorded before the
marker's id was (an older record), and nobody told again after an operator's retry."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.domain.contributions import KEY_MESSAGE, KEY_MESSAGE_MARKED, KeyMessage, KeyMessageMarked, from_json, to_json
from bot.domain.effects import AlertOperators
from bot.domain.effects.slack import TellPerson
from bot.domain.quarantine import delivery_quarantined

TS = "1764237600.000100"
READ = KeyMessage("PINC1", "C0INC12", TS, "Ben Okafor", "Rolled back <4.2.1>", "Asha Patel", marked_by_id="UASHA")


def told(event_type: str, body: str, *, again: bool = False) -> list[TellPerson]:
    effects = delivery_quarantined("ab12cd34", "slack", event_type, "PINC1", "refused", body, again=again)
    assert sum(isinstance(e, AlertOperators) for e in effects) == 1
    return [e for e in effects if isinstance(e, TellPerson)]


def test_the_marker_of_a_mark_set_aside_is_told_in_which_channel_and_what_to_do() -> None:
    [dm] = told(KEY_MESSAGE_MARKED, to_json(KeyMessageMarked("PINC1", "C0INC12", TS, "UASHA")))
    assert dm.user == "UASHA" and dm.incident_id == "person:UASHA"
    assert dm.text.startswith("⚠️ The message you marked with 📌 in <#C0INC12> could not be added"), dm.text
    assert "`ab12cd34`" in dm.text and "`/incident note …`" in dm.text and "It read" not in dm.text


def test_the_marker_of_a_message_read_set_aside_is_shown_its_words_escaped() -> None:
    assert from_json(to_json(READ)) == READ  # the marker's id is kept in the record
    [dm] = told(KEY_MESSAGE, to_json(READ))
    assert dm.user == "UASHA" and dm.text.startswith("⚠️ Ben Okafor's message you marked"), dm.text
    assert dm.text.endswith("It read:\n> Rolled back &lt;4.2.1&gt;"), dm.text


def test_nobody_is_told_again_nor_for_an_older_record_and_an_odd_channel_is_not_a_mention() -> None:
    assert told(KEY_MESSAGE, to_json(READ), again=True) == []
    # As the version before wrote it: no marker's id (its `marked_by` is a name, or an id when Slack gave none).
    older = json.dumps({"type": KEY_MESSAGE, "incident_id": "PINC1", "channel": "C0INC12", "ts": TS,
                        "author": "Ben Okafor", "text": "Rolled back", "marked_by": "Asha Patel"})
    assert from_json(older) == replace(READ, text="Rolled back", marked_by_id=None)
    assert told(KEY_MESSAGE, older) == []
    [dm] = told(KEY_MESSAGE_MARKED, to_json(KeyMessageMarked("PINC1", "<!here>", TS, "UASHA")))
    assert "in the incident's channel could not be added" in dm.text and "<!here>" not in dm.text
