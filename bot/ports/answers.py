"""Which outside systems answered a call doing the work of the effect being performed: the evidence that a system
takes an effect's kind (bot/services/lane_answers.py) is an effect done *with* its system's answer to a call that
writes (posts, updates, creates), not one done with no call at all (a line already posted, an incident resolved before
its channel opened, one deleted), nor one whose only answered calls were reads preparing the work (the history looked
up before posting a line again, found posted): counted as taken, those made an outage of Slack's posts — its reads
answering — look like one poisoned request.

The dispatcher opens `hearing()` around each effect (a context variable: the effect's steps run in tasks of their own,
which share it); each adapter says `answered(system, read=...)` for every call its system answered, a read being a
call that only looks (Slack's history, a GET). Outside an effect (a command, a test calling an adapter alone) nothing
is kept."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_HEARD: ContextVar[set[str] | None] = ContextVar("systems_answered", default=None)


@contextlib.contextmanager
def hearing() -> Iterator[set[str]]:
    """The systems that answer a writing call made in this block (this task, and the tasks it starts)."""
    heard: set[str] = set()
    token = _HEARD.set(heard)
    try:
        yield heard
    finally:
        _HEARD.reset(token)


def answered(system: str, *, read: bool) -> None:
    """`system` answered a call (its own answer, not a refusal or an error); `read`: a call that only looks, no
    evidence that the system takes the effect's work."""
    heard = _HEARD.get()
    if heard is not None and not read:
        heard.add(system)
