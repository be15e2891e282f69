"""What each lane's system has lately answered the dispatcher's effects: whether it takes the other queues' effects
while one effect keeps failing as an outage fails (a 5xx, no answer) — one poisoned request, not an outage.

Past its attempts, an effect whose failures may pass for an outage's is retried for its policy's
`retried_for_seconds` (bot/services/retries.py: an hour for Slack's effects, a handover post's grace). One request a
service refuses every time (a 500 for that one message, whatever in it makes the service fail) while it takes all else
looked the same: retried for the hour, it held its incident's queue — the card's refreshes, the timeline's lines, the
status updates — and the operators heard nothing. The dispatcher sees every outcome, so it tells the two apart: once
an effect has spent its attempts, it is given up (dead, the operators alerted) if, since this dispatcher first saw it
fail, effects of its kind in other queues of its lane were done, the service answering the call doing their work (a
post, not the history read before it: bot/ports/answers.py), and none failed as an outage fails. Only its own kind
counts: a kind calls the same methods, and a service is often down for some methods only (Slack posting messages while
it still updates them) — other kinds going through is no evidence. Any other queue failing so too (an outage, or a
service failing one call in two), or no effect of its kind tried meanwhile (a quiet lane: no evidence), and it is
outlasted as before.

What is heard is this replica's own: another replica's outcomes, and what came before a restart, are not known here
(an effect first seen failing past its attempts is retried once more, and judged at its next failure).
"""

from __future__ import annotations

from collections import deque

from bot.ports.store import OutboxRow
from bot.services.retries import Failure

# How long, and how many, outcomes per lane are kept: longer than the longest an effect is outlasted (a handover
# post's two hours); a lane busier than that in the window is judged on its latest outcomes.
HEARD_SECONDS = 3 * 3600.0
HEARD_AT_MOST = 10_000


class LaneAnswers:
    """Per lane, the outcomes of its effects (when, which queue, done or failed as in an outage); per effect failing,
    when this dispatcher first saw it fail so."""

    def __init__(self) -> None:
        self._heard: dict[str, deque[tuple[float, str, str, bool]]] = {}
        self._failing_since: dict[int, float] = {}

    def done(self, lane: str, row: OutboxRow, now: float, *, answered: bool) -> None:
        """`row`'s effect was performed; `answered`: its service answered a call of it doing its work, a write
        (bot/ports/answers.py). One done with no call (its line already posted, its incident resolved before its
        channel opened), or with reads only (its line's history, found posted), says nothing of whether the service
        takes its kind: not heard."""
        self._failing_since.pop(row.seq, None)
        if answered:
            self._hear(lane, now, row, True)

    def failed(self, lane: str, row: OutboxRow, failure: Failure, now: float) -> None:
        """`row`'s effect failed with `failure` (heard only when it may pass for an outage's: a refusal for rate
        limiting or of our credentials, a bug, an error retrying cannot fix say nothing of whether the service is
        down)."""
        if not failure.outage or failure.rate_limited_by is not None or failure.credentials_refused_by is not None:
            return
        self._failing_since.setdefault(row.seq, now)
        if len(self._failing_since) > HEARD_AT_MOST:  # effects another replica took over and finished: not ours
            self._failing_since = {seq: at for seq, at in self._failing_since.items() if at >= now - HEARD_SECONDS}
        self._hear(lane, now, row, False)

    def forget(self, row: OutboxRow) -> None:
        """`row`'s effect is over (dead, or no longer this dispatcher's)."""
        self._failing_since.pop(row.seq, None)

    def others_taken(self, lane: str, row: OutboxRow) -> bool:
        """Whether, since this dispatcher first saw `row`'s effect fail, the lane's other queues had effects of its kind
        done and none of its kind failing as in an outage: the service is answering, and this request alone fails."""
        since = self._failing_since.get(row.seq)
        if since is None:
            return False
        taken = False
        for at, queue, kind, done in reversed(self._heard.get(lane, ())):
            if at < since:
                break
            if queue == row.effect.queue or kind != row.effect.kind:  # its own failures; another method's answers
                continue
            if not done:
                return False
            taken = True
        return taken

    def _hear(self, lane: str, now: float, row: OutboxRow, done: bool) -> None:
        heard = self._heard.setdefault(lane, deque(maxlen=HEARD_AT_MOST))
        heard.append((now, row.effect.queue, row.effect.kind, done))
        while heard and heard[0][0] < now - HEARD_SECONDS:
            heard.popleft()
