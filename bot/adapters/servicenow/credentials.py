"""ServiceNow adapter: whether ServiceNow accepts the bot's own credentials (SERVICENOW_USERNAME and its password), and
the watch that lets ServiceNow's work go on once it accepts them again.

ServiceNow answers HTTP 401 to every call once the integration user's password has expired or been changed (its
password policies make that common), or once the user is locked out or made inactive. Every ServiceNow effect then
died at its first attempt, each with its own alert: an operators' channel flooded in a busy hour, and the incidents'
tickets given up on. A 401 is now the credentials' refusal, not the call's (IntegrationError.credentials_refused,
tickets.py): the effect waits, not counted as an attempt and never dead (bot/services/retries.py), and the
dispatcher's ServiceNow lane is paused while the refusal lasts (bot/app/runtime.py).

A 401 is judged first (`judge`, which tickets.py asks): ServiceNow answers 401 for an API's own access policy too,
while the Table API takes the credentials; the watch's read says which. The refusal is said once, when it begins
(`refused_by`): one ERROR naming the fix, the
`pavedroad_servicenow_credentials_refused` gauge, /readyz's `servicenow` (`state()`, shown, never a reason to be
unready) and `on_refusal_began`, which the runtime makes one alert in the operators' channel. `watch` asks ServiceNow
again every RECHECK_SECONDS of the bot's clock (one incident's sys_id); once that read, or any other call, is answered,
the credentials are accepted again: an INFO line, the gauge 0, and `on_accepted` (the lane goes on). The watch
also asks once as it starts (the bot's start), so that a wrong password is said when the bot is deployed.

A 403 is not this: ServiceNow answers it for an ACL on a table or a field, a matter of that call alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports import Clock

log = logging.getLogger(__name__)

# A refused ServiceNow is asked again this often (on the bot's clock): a person sets the password when they can.
RECHECK_SECONDS = 60.0
# How often, in real time, the watch looks at the clock while it waits (a clock moved forward is noticed within it).
LOOK_SECONDS = 1.0
# The read the watch asks (ServiceNowTickets.check_credentials), as the refusal names it.
CHECK_AT_START = "GET incident"

FIX = ("the integration user's password expired or was changed, or the user is locked out or inactive: set its "
       "password in SERVICENOW_PASSWORD (or the file SERVICENOW_PASSWORD_FILE names) and restart the bot; for a "
       "locked-out or inactive user, a ServiceNow admin unlocks or reactivates it (the bot goes on by itself)")
# What waits, and what does not, while the credentials are refused.
MEANWHILE = "Until then ServiceNow's tickets wait (none is dropped); incidents, Slack and PagerDuty carry on"


@dataclass(frozen=True)
class Refusal:
    """ServiceNow refused the credentials: with `status`, on the call `seen_on` (e.g. "PATCH incident/{id}"),
    since `since`."""

    status: int
    seen_on: str
    since: datetime


class ServiceNowCredentials:
    """Whether ServiceNow accepts the integration user's credentials, as its answers say, and the watch that asks
    again while it refuses them."""

    def __init__(self, username: str, check: Callable[[], Awaitable[None]], clock: Clock, *,
                 metrics: Metrics | None = None) -> None:
        self._username = username
        self._check = check  # a cheap Table API read (ServiceNowTickets.check_credentials)
        self._clock = clock
        self._metrics = metrics
        self.refused: Refusal | None = None
        # Whether ServiceNow has answered a call since the bot started (accepted, for /readyz).
        self.answered = False
        # Queues the operators' alert (`alert()`'s text), once per refusal; awaited by `watch`.
        self.on_refusal_began: Callable[[str], Awaitable[None]] | None = None
        # Told when ServiceNow accepts the credentials again after refusing them; and, by the watch, awaited then
        # (the runtime lets the next refusal be told to the operators again).
        self.on_accepted: Callable[[], None] | None = None
        self.on_refusal_ended: Callable[[], Awaitable[None]] | None = None
        # When (time.monotonic) the refusal began and the credentials were last accepted again: an answer to a call
        # sent before the latest of them says nothing of now (a 200 sent before the password changed, say).
        self._refused_at = self._accepted_at = -math.inf
        # When (time.monotonic) the latest call ServiceNow answered was sent: a 401 to a call sent before it is that
        # call's own (the credentials were accepted after it), not theirs.
        self._last_answered = -math.inf
        self._judging = asyncio.Lock()  # 401s answered together are judged by one check
        self._untold = False
        self._began = asyncio.Event()
        self._woken = asyncio.Event()

    def refused_by(self, status: int, where: str, sent_at: float | None = None) -> None:
        """ServiceNow answered `status` (401) to the call `where`, sent at `sent_at` (time.monotonic): said at once
        when the refusal begins — an ERROR naming the fix, the gauge, /readyz — and the operators' alert is queued."""
        if self.refused is not None or (sent_at is not None and sent_at < self._accepted_at):
            return
        self.refused, self._refused_at, self._untold = Refusal(status, where, self._clock.now()), time.monotonic(), True
        log.error("ServiceNow refuses the credentials of %s, HTTP %d on %s: %s. %s", self._user(), status, where,
                  FIX, MEANWHILE)
        if self._metrics is not None:
            self._metrics.servicenow_credentials_refused.set(1)
        self._began.set()

    async def judge(self, where: str, sent_at: float) -> bool:
        """The call `where`, sent at `sent_at` (time.monotonic), was answered 401: whether ServiceNow refuses the
        credentials (True: `refused_by`, and the effect waits for them) or that call alone (False: an API's own access
        policy answers 401 too — the Attachment API's, say — and refusing everything for it would pause every ticket
        and alert the operators at each retry, for ever). The judge is the watch's own read, asked once for the 401s
        answered together, and not at all while refused already or when a call sent later was answered. When that
        read fails otherwise (ServiceNow down), the 401 is the call's: an attempt it spends, never a wait for ever."""
        async with self._judging:
            if self.refused is not None:
                return True
            if self._last_answered > sent_at:
                return False
            checked_at = time.monotonic()
            try:
                await self._check()
            except IntegrationError as error:
                if error.credentials_refused:
                    self.refused_by(error.status or 401, where, sent_at)
                    return True
                return False
            self.accepted(checked_at)
            log.warning("ServiceNow answered HTTP 401 to %s while it accepts the credentials of %s (its Table API "
                        "answers them): that call alone is refused — an access policy on that API, or roles the user "
                        "lacks", where, self._user())
            return False

    def accepted(self, sent_at: float | None = None) -> None:
        """ServiceNow answered a call sent at `sent_at` (time.monotonic; None: now): the credentials are accepted, and
        a refusal before the call was sent is over."""
        self.answered = True
        self._last_answered = max(self._last_answered, time.monotonic() if sent_at is None else sent_at)
        refused = self.refused
        if refused is None or (sent_at is not None and sent_at < self._refused_at):
            return
        self.refused, self._accepted_at, self._untold = None, time.monotonic(), False
        log.info("ServiceNow accepts the credentials of %s again (refused since %s UTC): ServiceNow's tickets go on",
                 self._user(), f"{refused.since:%H:%M}")
        if self._metrics is not None:
            self._metrics.servicenow_credentials_refused.set(0)
        if self.on_accepted is not None:
            self.on_accepted()

    def wake(self) -> None:
        """Look at the clock again now (it was moved: the sandbox's clock control)."""
        self._woken.set()

    async def watch(self) -> None:
        """While the credentials are refused: tell the operators, and ask ServiceNow again every RECHECK_SECONDS until
        it accepts them (run in the background from the bot's start; cancelled at its stop). ServiceNow is asked once
        as the watch starts: a wrong password is then said when the bot is deployed, not at the first incident."""
        await self._look_at_start()
        while True:
            await self._began.wait()
            self._began.clear()
            while self.refused is not None:
                await self._tell()
                await self._wait(RECHECK_SECONDS)
                if self.refused is not None:
                    await self._ask_again()
            if self.on_refusal_ended is not None:
                try:
                    await self.on_refusal_ended()
                except Exception:  # the store refusing it: the next refusal may then go untold to the operators
                    log.exception("could not record that ServiceNow accepts the bot's credentials again")

    async def _look_at_start(self) -> None:
        sent_at = time.monotonic()
        try:
            await self._check()  # its answer, taken, says the credentials are accepted (tickets.py's on_accepted)
        except IntegrationError as error:
            # (Unless a call sent after it was answered meanwhile: the credentials passed then, as `judge` reads it.)
            if error.credentials_refused and self._last_answered <= sent_at:
                self.refused_by(error.status or 401, f"{CHECK_AT_START} at the bot's start", sent_at)
            else:  # ServiceNow down or its address wrong: its first call will say more
                log.warning("could not check at start whether ServiceNow accepts the credentials of %s (%s): check "
                            "SERVICENOW_INSTANCE_URL if this lasts; tickets are retried meanwhile", self._user(), error)
        except Exception:  # not ServiceNow's answer (a bug): the watch goes on
            log.exception("checking at start whether ServiceNow accepts the bot's credentials failed unexpectedly")

    async def _tell(self) -> None:
        if not self._untold or self.on_refusal_began is None:
            return
        try:
            await self.on_refusal_began(self.alert())
        except Exception:  # the store refusing the alert: tried again at the watch's next look, while it lasts
            log.exception("could not queue the operators' alert that ServiceNow refuses the bot's credentials; trying "
                          "again in %.0fs", RECHECK_SECONDS)
        else:
            self._untold = False

    async def _wait(self, seconds: float) -> None:
        due = self._clock.now().timestamp() + seconds
        while self.refused is not None and (left := due - self._clock.now().timestamp()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, LOOK_SECONDS)):
                    await self._woken.wait()
            self._woken.clear()

    async def _ask_again(self) -> None:
        sent_at = time.monotonic()
        try:
            await self._check()
        except IntegrationError as error:
            if not error.credentials_refused:  # says nothing of the credentials: asked again at the next look
                log.warning("could not check whether ServiceNow accepts the credentials of %s again (%s); asking again "
                            "in %.0fs", self._user(), error, RECHECK_SECONDS)
            return
        except Exception:  # not ServiceNow's answer (a bug): the watch goes on
            log.exception("checking whether ServiceNow accepts the bot's credentials again failed unexpectedly")
            return
        self.accepted(sent_at)

    def alert(self) -> str:
        """The operators' alert for the refusal under way."""
        refused = self.refused
        seen = f"HTTP {refused.status} on {refused.seen_on}, since {refused.since:%H:%M} UTC" if refused else "HTTP 401"
        return (f"🚨 ServiceNow refuses the credentials of {self._user()} ({seen}): {FIX}. {MEANWHILE}; the "
                f"bot asks ServiceNow again every {RECHECK_SECONDS:.0f}s and goes on by itself once it accepts them. "
                "/readyz's `servicenow` says the same.")

    def state(self) -> dict[str, object]:
        """For /readyz: whether ServiceNow accepts the credentials (never a reason to be unready)."""
        refused = self.refused
        if refused is not None:
            return {"credentials": "refused", "status": refused.status, "seen_on": refused.seen_on,
                    "since": refused.since.isoformat(), "fix": f"{FIX}. {MEANWHILE}."}
        return {"credentials": "accepted" if self.answered else "not yet checked"}

    def _user(self) -> str:
        return f"its integration user {self._username} (SERVICENOW_USERNAME)"
