"""PagerDuty adapter: whether PagerDuty accepts the bot's REST API key (PAGERDUTY_API_TOKEN), asked as the bot starts.

A key mistyped at deploy time, or one an admin deleted, was said nowhere until the first incident: then every
acknowledgement from Slack answered "PagerDuty refused the bot's credentials" and every PagerDuty effect died with an
alert of its own, in the middle of an outage. Now the bot asks PagerDuty once as it starts (one cheap read, the
account's priorities): a refusal (HTTP 401) is one ERROR naming the fix, one alert in the operators' channel (once
across the replicas sharing the store, for a day) and /readyz's `pagerduty` — never a reason to be unready: intake
needs no PagerDuty, and the webhooks it sends are still taken. While refused it is asked again every
RECHECK_SECONDS, so a refusal PagerDuty gave in its own trouble ends by itself (and a later one is told again);
PagerDuty out of reach is one WARNING, and asked again the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.errors import IntegrationError

log = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0
FIX = ("create a REST API key in PagerDuty (Integrations → API Access Keys; a general access key, not read-only, so "
       "that acknowledgements, notes and pages from Slack go through), put it in PAGERDUTY_API_TOKEN (or the file "
       "PAGERDUTY_API_TOKEN_FILE names) and restart the bot")
MEANWHILE = ("Until then nothing the bot does in PagerDuty goes through (acknowledging, resolving, notes, pages from "
             "Slack); PagerDuty's webhooks are still taken, so incident channels and cards are made")


class PagerDutyApiKey:
    """The check of PAGERDUTY_API_TOKEN: `watch()` runs in the background from the bot's start; `state()` for
    /readyz."""

    def __init__(self, ask: Callable[[], Awaitable[Any]], tell_operators: Callable[[str], Awaitable[None]],
                 recheck_seconds: float = RECHECK_SECONDS,
                 may_tell_again: Callable[[], Awaitable[None]] | None = None) -> None:
        self._ask = ask  # a cheap read (PagerDutyPaging.priorities)
        self._tell_operators = tell_operators
        self._may_tell_again = may_tell_again  # once the key is taken: a later refusal is told again
        self._recheck = recheck_seconds
        self.refused: str | None = None  # PagerDuty's words refusing the key, while it does
        self.checked = False

    async def watch(self) -> None:
        """Ask until PagerDuty answers: while it refuses the key, or cannot be reached, ask again every
        `recheck_seconds`; once it takes the key, the watch ends."""
        told, said_unreachable = False, False
        while (refused := await self._refuses(quiet=said_unreachable)) is not False:
            if refused is None:  # not reached: said once, asked again
                said_unreachable = True
            elif not told:
                try:
                    await self._tell_operators(self.alert())
                    told = True
                except Exception:  # the store refusing the alert: tried again at the next look
                    log.exception("could not queue the operators' alert that PagerDuty refuses the bot's API key")
            await asyncio.sleep(self._recheck)
        if told and self._may_tell_again is not None:
            try:
                await self._may_tell_again()
            except Exception:  # the store refusing it: the next refusal may then go untold for up to a day
                log.exception("could not record that PagerDuty accepts the bot's API key again")

    async def _refuses(self, *, quiet: bool = False) -> bool | None:
        """Whether PagerDuty refuses the key; None when it could not be asked (out of reach, failing)."""
        try:
            await self._ask()
        except IntegrationError as error:
            if error.status == 401:
                if self.refused is None:
                    log.error("PagerDuty refuses PAGERDUTY_API_TOKEN (HTTP 401: %s): %s. %s", error, FIX, MEANWHILE)
                self.refused = str(error)
                return True
            if not quiet:
                log.warning("could not check whether PagerDuty accepts PAGERDUTY_API_TOKEN (%s): check "
                            "PAGERDUTY_API_URL if this lasts; asking again every %.0fs", error, self._recheck)
            return None
        except Exception:  # not PagerDuty's answer (a bug): said, and the bot goes on
            log.exception("checking whether PagerDuty accepts PAGERDUTY_API_TOKEN failed unexpectedly")
            return False
        if self.refused is not None:
            log.info("PagerDuty accepts PAGERDUTY_API_TOKEN again")
        self.refused, self.checked = None, True
        return False

    def alert(self) -> str:
        return (f"🚨 PagerDuty refuses the bot's REST API key (HTTP 401 on GET /priorities): {FIX}. {MEANWHILE}. "
                f"The bot asks PagerDuty again every {self._recheck:.0f}s; /readyz's `pagerduty` says the same.")

    def state(self) -> dict[str, object]:
        """For /readyz: whether PagerDuty takes the key (never a reason to be unready)."""
        if self.refused is not None:
            return {"api_key": "refused", "error": self.refused, "seen_on": "GET /priorities", "fix": f"{FIX}."}
        return {"api_key": "accepted" if self.checked else "not yet checked"}
