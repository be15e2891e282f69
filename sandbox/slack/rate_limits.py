"""Slack's rate limits on the Web API, emulated: requests per minute per method by Slack's published tiers, per
channel for chat.postMessage, and Tier 1 for apps.connections.open; a call over its limit is answered HTTP 429 with
Retry-After. `rate_limit_scale` stretches every limit (0 turns them off, as fast tests want)."""

from __future__ import annotations

import math
from collections.abc import Callable

# Requests per minute per method (Slack's published tiers). chat.postMessage is limited per channel instead.
_TIERS = {2: 20, 3: 50, 4: 100}
_METHOD_TIER = {
    **dict.fromkeys(["conversations.create", "conversations.setTopic", "conversations.archive", "pins.add",
                     "conversations.join"], 2),
    **dict.fromkeys(["conversations.invite", "chat.update", "chat.delete", "users.lookupByEmail", "users.info",
                     "conversations.info", "conversations.list", "conversations.members", "pins.list",
                     "conversations.history", "conversations.replies", "conversations.leave",
                     "conversations.open"], 3),
    **dict.fromkeys(["views.open", "views.update", "views.push", "views.publish", "chat.postEphemeral",
                     "chat.getPermalink",
                     "auth.test", "files.getUploadURLExternal", "files.completeUploadExternal"], 4),
}
_POST_MESSAGE_PER_MINUTE = 60  # about one per second per channel...
_POST_MESSAGE_BURST = 5  # ...with a short burst allowed
# apps.connections.open is Tier 1 ("1+ per minute, a small burst tolerated"). The burst lets a bot open its allowed
# ten connections, or reconnect after a refresh, without waiting a minute; the figure is an assumption.
_CONNECTIONS_OPEN_PER_MINUTE = 1
_CONNECTIONS_OPEN_BURST = 10


class _TokenBuckets:
    """Token buckets per key; `take` answers None or the Retry-After seconds."""

    def __init__(self, scale: float, clock: Callable[[], float]) -> None:
        self._scale, self._clock = scale, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, per_minute: float, burst: float) -> int | None:
        if self._scale <= 0:
            return None
        rate = per_minute * self._scale / 60
        capacity = max(1.0, burst * self._scale)
        now = self._clock()
        tokens, updated = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - updated) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / rate))


class SlackRateLimits:
    """Which calls Slack would refuse right now for going too fast."""

    def __init__(self, scale: float, clock: Callable[[], float]) -> None:
        self._buckets = _TokenBuckets(scale, clock)

    def retry_after(self, method: str, channel: str = "") -> int | None:
        """None when `method` may be called now, else the Retry-After seconds; `channel` is where chat.postMessage
        posts (its limit is per channel)."""
        if method == "apps.connections.open":
            return self._buckets.take(method, _CONNECTIONS_OPEN_PER_MINUTE, _CONNECTIONS_OPEN_BURST)
        if method == "chat.postMessage":
            return self._buckets.take(f"{method}:{channel}", _POST_MESSAGE_PER_MINUTE, _POST_MESSAGE_BURST)
        per_minute = _TIERS[_METHOD_TIER[method]]
        return self._buckets.take(method, per_minute, per_minute)
