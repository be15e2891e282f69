"""An incident's footprint pieces (the FootprintChange a step remembers) as the column values both stores write into
`incident_slack`: names checked against the port's, lists as JSON text, flags as integers 0/1. Each store builds its
own upsert around them (bot/adapters/store/{sqlite,postgres}/bookkeeping_sql.py): only the placeholders differ."""

from __future__ import annotations

import json
from typing import Any

from bot.ports.store import FootprintChange

LISTS = ("invited", "unreachable")
FLAGS = ("card_pinned", "shared_channel", "sync_pending_shown", "bot_removed")


def footprint_record(changes: FootprintChange) -> dict[str, Any]:
    """The pieces as column values, in the order given. Raises ValueError for a name the port does not have: the type
    checker catches a misspelt piece in our code, this one built at run time (and keeps every name that reaches the
    SQL one of the port's own)."""
    if unknown := sorted(changes.keys() - FootprintChange.__annotations__.keys()):
        raise ValueError(f"unknown footprint field(s) {', '.join(unknown)}")
    record: dict[str, Any] = dict(changes)
    for key in LISTS:
        if key in record:
            record[key] = json.dumps(list(record[key]))
    for key in FLAGS:
        if key in record:
            record[key] = int(bool(record[key]))
    return record
