"""What Slack sends twice is acted on once: its retries of an event, a double click, the same command repeated.

Decided in the store (the Deduplication port), never in process memory, so every replica behind the same store
agrees on which delivery was the first. Keys carry a hash of what the person typed, not the text itself.
"""

from __future__ import annotations

import hashlib

from bot.ports import Clock, Deduplication

# Slack retries an event for up to about an hour (three retries, backing off).
RETRY_WINDOW_SECONDS = 3600.0
# The same person clicking or sending the same thing within a few seconds meant it once.
REPEAT_WINDOW_SECONDS = 5.0
ALREADY_COMMANDED = "Already on it — you sent the same command a moment ago, and it is being handled."
ALREADY_CLICKED = "Already on it — your first click is being handled."


class Repeats:
    def __init__(self, dedup: Deduplication, clock: Clock) -> None:
        self._dedup, self._clock = dedup, clock

    async def first_delivery(self, event_id: str) -> bool:
        """An Events API event not seen before (a retry of one whose first delivery never reached us counts)."""
        return await self._first("slack-event", RETRY_WINDOW_SECONDS, event_id)

    async def first_click(self, user: str, action_id: str, incident_id: str) -> bool:
        return await self._first("click", REPEAT_WINDOW_SECONDS, user, action_id, incident_id)

    async def first_command(self, user: str, subcommand: str, text: str, channel: str) -> bool:
        """The same subcommand with the same text (which names the incident, or the channel does)."""
        return await self._first("command", REPEAT_WINDOW_SECONDS, user, subcommand, text, channel)

    async def first_submission(self, user: str, form: str, text: str, incident_id: str) -> bool:
        return await self._first("form", REPEAT_WINDOW_SECONDS, user, form, text, incident_id)

    async def _first(self, kind: str, window_seconds: float, *parts: str) -> bool:
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
        return await self._dedup.first_time(f"{kind}:{digest}", window_seconds, self._clock.now().timestamp())
