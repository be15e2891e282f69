"""Effects: what the outside world must be told, decided by the domain and performed later by the dispatcher.

Each effect is small and names the incident; its executor reads current state when it runs, so replaying an effect
converges on the same result instead of repeating it (see bot/services/effects.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Effect:
    kind: ClassVar[str] = "effect"
    # The outside system it talks to: effects run in order per (system, incident), independently across systems.
    system: ClassVar[str] = "slack"
    incident_id: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def queue(self) -> str:
        return f"{self.system}:{self.incident_id}"


@dataclass(frozen=True)
class OpenIncidentChannel(Effect):
    """Create (or find) the incident's channel, set its topic, invite responders, post and pin the card,
    and announce it in the owning team's channel. Each step is remembered as soon as it is done."""

    kind: ClassVar[str] = "open_incident_channel"


@dataclass(frozen=True)
class RefreshCard(Effect):
    """Render the card (and topic) from current state and update them in place."""

    kind: ClassVar[str] = "refresh_card"


@dataclass(frozen=True)
class PostTimelineEntry(Effect):
    """Post one timeline line to the incident's channel (threaded under the card when the channel is shared)."""

    kind: ClassVar[str] = "post_timeline_entry"
    entry_id: str


@dataclass(frozen=True)
class InviteResponders(Effect):
    """Invite PagerDuty users (by id) to the incident channel, naming those who cannot be found in Slack."""

    kind: ClassVar[str] = "invite_responders"
    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class AlertOperators(Effect):
    """Tell the operators' channel that an effect is dead and needs a human."""

    kind: ClassVar[str] = "alert_operators"
    text: str


EFFECT_TYPES: dict[str, type[Effect]] = {
    cls.kind: cls for cls in (OpenIncidentChannel, RefreshCard, PostTimelineEntry, InviteResponders, AlertOperators)
}


def effect_from_row(kind: str, payload: dict[str, Any]) -> Effect:
    cls = EFFECT_TYPES[kind]
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()}
    return cls(**values)
