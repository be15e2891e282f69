"""The instance's incident close codes, read from ServiceNow (its sys_choice table) at the first resolve and every few
hours after, and the close codes a resolve sets from them (bot/domain/close_codes.py): the catalogue's, or their
equivalent where the instance does not offer them — the operators told once a month per difference, with what to set.

A read that fails (an ACL refusing the integration user sys_choice, ServiceNow slow or down) never holds up a resolve:
the catalogue's codes are set as they are, and the read is tried again later (a refusal for good after hours, a
passing failure after minutes). The read waits at most a few seconds, and one read serves every resolve meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.alert_text import plain
from bot.domain.close_codes import Choice, CloseCodes, Mismatch, close_codes
from bot.domain.effects import AlertOperators
from bot.errors import IntegrationError
from bot.ports import Clock, Tickets
from bot.ports.store import Deduplication, Outbox

log = logging.getLogger(__name__)
REFRESH_SECONDS = 6 * 3600.0  # the choices read are used this long (an admin rarely changes them)
RETRY_SECONDS = 600.0  # after a passing failure (a timeout, a 5xx, a 429)
READ_SECONDS = 5.0  # the longest a resolve waits for the read
ASKED_AGAIN_SECONDS = 86_400.0  # how long a replica trusts what it knows of a difference told
TOLD_SECONDS = 30 * 86_400.0  # the operators hear of a difference once a month while it lasts
SHOWN_CHOICES = 12


class CloseCodeStore(Outbox, Deduplication, Protocol):
    """The operators' alert, and whether they were told of a difference already."""


class CloseCodeChoices:
    def __init__(self, store: CloseCodeStore, tickets: Tickets, catalogue: Catalogue, clock: Clock) -> None:
        self._store, self._tickets, self._catalogue, self._clock = store, tickets, catalogue, clock
        self._choices: tuple[Choice, ...] | None = None
        self._due = 0.0  # when the choices are read (again)
        self._reading = asyncio.Lock()
        # Differences this replica told (or found told), with when the store is asked again: a day, so that a replica
        # running for months tells the operators again once the store's month is over.
        self._told: dict[str, float] = {}
        self.current = self._codes()  # the codes the last resolve set (a refused duplicate's fallback reads them)

    async def codes(self) -> CloseCodes:
        """The close codes to set now, the choices read first if due; the operators told of a difference."""
        if self._clock.now().timestamp() >= self._due:
            async with self._reading:  # one read for the resolves that come meanwhile
                if self._clock.now().timestamp() >= self._due:
                    await self._read()
        self.current = self._codes()
        if self.current.mismatches:
            await self._tell(self.current.mismatches)
        return self.current

    def _codes(self) -> CloseCodes:
        codes = self._catalogue.servicenow
        return close_codes(codes.close_code, codes.merged_close_code, self._choices)

    async def _read(self) -> None:
        now = self._clock.now().timestamp()
        try:
            read = await asyncio.wait_for(self._tickets.close_code_choices(), READ_SECONDS)
        except (IntegrationError, TimeoutError) as error:
            passing = isinstance(error, TimeoutError) or error.retryable or error.credentials_refused
            self._due = now + (RETRY_SECONDS if passing else REFRESH_SECONDS)
            advice = " — give the integration user read access to the sys_choice table (its incident close_code " \
                "rows)" if isinstance(error, IntegrationError) and error.status == 403 else ""
            log.warning("could not read the instance's incident close codes (%s)%s: resolves set %s; tried again in "
                        "%.0f minutes", error if isinstance(error, IntegrationError) else "no answer in time", advice,
                        "the codes its choices read before gave" if self._choices else
                        f"the catalogue's as they are (servicenow.close_code {self._catalogue.servicenow.close_code!r},"
                        f" servicenow.merged_close_code {self._catalogue.servicenow.merged_close_code!r})",
                        (self._due - now) / 60)
            return
        except Exception:  # a bug of ours or an answer nobody foresaw: a resolve is never held up by this read
            self._due = now + RETRY_SECONDS
            log.exception("reading the instance's incident close codes failed unexpectedly: resolves set the "
                          "catalogue's (or the choices read before); tried again in %.0f minutes", RETRY_SECONDS / 60)
            return
        self._choices, self._due = tuple(Choice(value, label) for value, label in read), now + REFRESH_SECONDS
        if not read:  # an ACL hiding the rows answers an empty list, not a refusal
            log.warning("the instance answered no incident close codes (sys_choice rows for incident.close_code "
                        "hidden from the integration user, or none active): resolves set the catalogue's as they are")

    async def _tell(self, mismatches: tuple[Mismatch, ...]) -> None:
        now = self._clock.now().timestamp()
        told = "servicenow:close-code:" + "|".join(f"{m.key}={m.configured}>{m.used}" for m in mismatches)
        if self._told.get(told, 0.0) > now:
            return
        # Claimed, not looked at then remembered: resolves side by side (here, or on another replica) each found the
        # operators untold and each queued the alert (found in review).
        self._told[told] = now + ASKED_AGAIN_SECONDS  # (then not asked of the store at every resolve)
        try:
            if not await self._store.first_time(told, TOLD_SECONDS, now):
                return
        except BaseException:
            self._told.pop(told, None)
            raise
        try:
            await self._store.queue_effect(self._alert(mismatches), now)
        except BaseException:  # not told after all: the next resolve tells them
            self._told.pop(told, None)
            await self._store.forget(told)
            raise

    def _alert(self, mismatches: tuple[Mismatch, ...]) -> AlertOperators:
        choices = self._choices or ()
        offer = ", ".join(f"'{c.value}'" for c in choices[:SHOWN_CHOICES]) + (", …" if len(choices) > SHOWN_CHOICES
                                                                             else "")
        example = mismatches[0]
        example_value = example.used if example.used != example.configured else choices[0].value if choices else ""
        lines = [f"`{m.key}` is '{m.configured}', which is not one of this instance's incident close codes: "
                 + ("resolved tickets" if m.key.endswith(".close_code") else "the tickets of incidents merged away")
                 + (f" get '{m.used}' instead." if m.used != m.configured else
                    " get it as it is, nothing the instance offers being its equivalent (an invalid choice the "
                    "desk's reports do not count).") for m in mismatches]
        return AlertOperators.grouped("servicenow:close-code", plain(
            "⚠️ ServiceNow close codes: " + " ".join(lines) + f" The instance offers {offer}. To choose, set "
            + " and ".join(f"`{m.key}`" for m in mismatches) + " in the platform catalogue to one of these values "
            f"(e.g. `{example.key.partition('.')[2]}: {example_value}` under `servicenow:`) and restart the bot."))
