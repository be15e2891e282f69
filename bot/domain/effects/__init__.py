"""Effects: what the outside world must be told, decided by the domain and performed later by the dispatcher.

Each effect is small and names the incident; its executor reads current state when it runs, so replaying an effect
converges on the same result instead of repeating it (see bot/services/executor.py).

This package's own module holds what every effect is (`Effect`: its queue, payload and the operators' alert when it
is given up on), the lanes and queues the dispatcher runs them in, and the operators' alert (`AlertOperators`), which
any part may queue. The kinds live by the outside system whose lane they run in: slack.py, servicenow.py and
pagerduty.py; kinds.py reads a stored effect back by its kind.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from bot.domain.alert_text import plain as _plain


@dataclass(frozen=True)
class Effect:
    kind: ClassVar[str] = "effect"
    # The outside system it talks to: effects run in order per (system, incident), independently across systems.
    system: ClassVar[str] = "slack"
    incident_id: str
    # Fields added later, left out of the payload while unset (falsy): an effect not using them stays readable by a
    # replica of an earlier version, in a rolling upgrade or after a rollback (store/unreadable.py).
    optional: ClassVar[tuple[str, ...]] = ()

    def payload(self) -> dict[str, Any]:
        # A shallow dict of strings, bools and tuples of strings (every effect of every decision is encoded).
        if not self.optional:  # most effects: no filter to pay for on the hot path
            return {name: getattr(self, name) for name in _field_names(type(self))}
        return {name: value for name in _field_names(type(self))
                if (value := getattr(self, name)) or name not in self.optional}

    def due_in_seconds(self) -> float:
        """How long after it is queued the effect is due (at once, but for a review drafted after a resolve)."""
        return 0.0

    def dead_alert(self, attempts: int, error: str) -> str | None:
        """The operators' alert when this effect is given up on; None: the dispatcher's generic one."""
        return None

    def subject(self) -> str:
        """Whom or what the effect was for, as the operators' alerts name it: its incident, unless its queue is
        another's (a rota's handovers, a person's direct messages)."""
        return f"incident {_plain(self.incident_id)}"

    @property
    def queue(self) -> str:
        return f"{self.system}:{self.incident_id}"


@dataclass(frozen=True)
class AlertOperators(Effect):
    """Tell the operators' channel that something needs a human (a dead effect, a quarantined delivery)."""

    kind: ClassVar[str] = "alert_operators"
    text: str

    @classmethod
    def grouped(cls, group: str, text: str) -> AlertOperators:
        """An alert of one cause (`group`), in its first one's thread for an hour (services/operators_channel.py). The
        group is its queue, not a field an earlier version (a rollback) could not read: alerts go out in order."""
        return cls(f"{OPERATORS}:{group}", text)

    @property
    def group(self) -> str:  # "" for an alert of its own
        queue, _, group = self.incident_id.partition(":")
        return group if queue == OPERATORS else ""


# The outside systems effects talk to: the dispatcher's lanes, each with its own concurrency, so that work waiting
# for one system's rate budget holds up none of another's. Every queue not ServiceNow's or PagerDuty's is Slack's
# (a review draft's queue, "review:<id>", uploads to Slack; a key message's read, "keymessage:<id>", and what the bot
# learns of a channel people changed, "channel:<id>", read it); the stores derive an effect's lane from its queue so.
LANES = ("slack", "servicenow", "pagerduty")

# The queue of operators' alerts: they go out in order among themselves, behind no incident's effects.
OPERATORS = "operators"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type[Effect]) -> tuple[str, ...]:
    """An effect class's field names, in order: looked up once per class, not on every payload."""
    if (names := _FIELD_NAMES.get(kind)) is None:
        names = _FIELD_NAMES[kind] = tuple(field.name for field in fields(kind))
    return names
