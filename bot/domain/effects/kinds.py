"""Every effect kind by the name it is stored under (`Effect.kind`), and a stored effect read back by it."""

from __future__ import annotations

from typing import Any

from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.pagerduty import CompleteHandover, PublishStatusUpdate, RaisePageUrgency
from bot.domain.effects.servicenow import (
    AttachReview,
    CommentOnTicket,
    NoteOnTicket,
    OpenTicket,
    PageTeamForTicket,
    SyncTicket,
    UpdateTicketLevels,
)
from bot.domain.effects.slack import (
    ArchiveChannel,
    DraftReview,
    InviteResponders,
    InviteToChannel,
    LearnBotBack,
    LearnChannelName,
    OfferCommand,
    OpenIncidentChannel,
    PostHandover,
    PostReminder,
    PostTimelineEntry,
    ReadKeyMessage,
    RefreshCard,
    RefreshHomes,
    SayChannelMoved,
    ShareStatusUpdate,
    TellNewTeam,
    TellPerson,
)

EFFECT_TYPES: dict[str, type[Effect]] = {cls.kind: cls for cls in (
    OpenIncidentChannel, RefreshCard, PostTimelineEntry, InviteResponders, AlertOperators, OpenTicket, SyncTicket,
    PageTeamForTicket, NoteOnTicket, PostHandover, CompleteHandover, DraftReview, AttachReview, ReadKeyMessage,
    ArchiveChannel, InviteToChannel, ShareStatusUpdate, PublishStatusUpdate, CommentOnTicket, UpdateTicketLevels,
    PostReminder, OfferCommand, RefreshHomes, TellPerson, SayChannelMoved, RaisePageUrgency,
    TellNewTeam, LearnChannelName, LearnBotBack)}


def effect_from_row(kind: str, payload: dict[str, Any]) -> Effect:
    cls = EFFECT_TYPES[kind]
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()}
    return cls(**values)
