"""How `channels.archive_after` is written ("7d", "36h", "90m", "never") and read (`archive_delay`). Its own module,
without the incident model, so that validating a catalogue (every command's start) does not load the domain's
incident model; bot/domain/archiving.py decides when a channel is archived and re-exports these. Pure."""

from __future__ import annotations

import re
from datetime import timedelta

NEVER = "never"
_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|days?|h|hours?|m|min|mins|minutes?)\s*$")


# The longest delay: ten years (a delay a person means as "never" is `never`).
LONGEST = timedelta(days=3650)


def archive_delay(text: str) -> timedelta | None:
    """The delay `text` names, None for "never"; ValueError (saying how to write it) otherwise."""
    if text.strip().lower() == NEVER:
        return None
    match = _PERIOD.match(text.lower())
    if not match or float(match[1]) <= 0:
        raise ValueError(f"cannot read {text!r}: write a delay like '7d', '36h' or '90m', or 'never'")
    unit = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}[match[2][0]]
    try:
        delay = unit * float(match[1])
    except OverflowError:  # past timedelta's 999,999,999 days: a catalogue error, not a crash at start or SIGHUP
        delay = timedelta.max
    if delay > LONGEST:  # "now - delay" before year 1 broke every run of the archiving job (found in review)
        raise ValueError(f"{text!r} is longer than the bot can count back ({LONGEST.days:,} days at most): "
                         "for channels never archived, write 'never'")
    return delay
