"""The instance's incident close codes, read from ServiceNow (its sys_choice table) at the first resolve and every few
hours after, and the close codes a resolve sets from them (bot/domain/close_codes.py): the catalogue's, or their
equivalent where the instance does not offer them — the operators told once a month per difference, with what to set.

A read that fails (an ACL refusing the integration user sys_choice, ServiceNow slow or down) never holds up a resolve:
the catalogue's codes are set as they are, and the read is tried again later (a refusal for good after hours, a
passing failure after minutes). The read waits at most a few seconds, and one read serves every resolve meanwhile. A
refusal (HTTP 403: an ACL) is told to the operators once a month while it lasts, with the ACL to grant (`GRANT`, as
the README's ServiceNow setup says it). So is a read answered with no rows at all (HTTP 200, an empty result): that is
how ServiceNow answers when a read ACL hides each row from the integration user (it drops the rows a user may not read
rather than refuse the query), or when the instance has no active close code — either way the operators are the ones
to mend it, and the resolves keep what the last read found meanwhile, as for a refusal.

Each telling claims its month and queues its alert in one store transaction (`first_time_then_queue`): as two writes,
a crash between them lost that month's alert (claimed, never queued), and forgetting the claim when the queueing
failed could queue it twice (the queueing committed, its answer lost). The alert is then the outbox's: posted once,
a retry looking for its post first (services/operators_channel.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.alert_text import plain, shown_error
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
TOLD_SECONDS = 30 * 86_400.0  # the operators hear of a difference, a refused or an empty read, monthly while it lasts
SHOWN_CHOICES = 12
REFUSED_TOLD = "servicenow:close-codes-refused"  # the claim of a month's alert of a refused read
HIDDEN_TOLD = "servicenow:close-codes-hidden"  # the claim of a month's alert of a read answered with no rows
# What to grant the integration user for the read (the README's ServiceNow setup says the same, and a test holds it).
GRANT = "a `read` ACL on `sys_choice` and one on `sys_choice.*`, each requiring role `itil`"


class CloseCodeStore(Outbox, Deduplication, Protocol):
    """The operators' alerts, and whether they were told of a difference, or of a refused read, already."""


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
            refused = isinstance(error, IntegrationError) and error.status == 403
            advice = f" — grant the integration user {GRANT}" if refused else ""
            log.warning("could not read the instance's incident close codes (%s)%s: resolves set %s; tried again in "
                        "%.0f minutes", error if isinstance(error, IntegrationError) else "no answer in time", advice,
                        "the codes its choices read before gave" if self._choices else
                        f"the catalogue's as they are (servicenow.close_code {self._catalogue.servicenow.close_code!r},"
                        f" servicenow.merged_close_code {self._catalogue.servicenow.merged_close_code!r})",
                        (self._due - now) / 60)
            if refused:
                await self._tell_unread(REFUSED_TOLD, self._refused_alert(str(error)), now)
            return
        except Exception:  # a bug of ours or an answer nobody foresaw: a resolve is never held up by this read
            self._due = now + RETRY_SECONDS
            log.exception("reading the instance's incident close codes failed unexpectedly: resolves set the "
                          "catalogue's (or the choices read before); tried again in %.0f minutes", RETRY_SECONDS / 60)
            return
        self._due = now + REFRESH_SECONDS
        if not read:  # an ACL hiding the rows answers an empty list, not a refusal: kept as a refusal keeps them
            log.warning("the instance answered no incident close codes (sys_choice rows for incident.close_code "
                        "hidden from the integration user by a read ACL, or none active) — grant the integration "
                        "user %s: resolves set %s; tried again in %.0f minutes", GRANT, self._kept(),
                        REFRESH_SECONDS / 60)
            await self._tell_unread(HIDDEN_TOLD, self._hidden_alert(), now)
            return
        self._choices = tuple(Choice(value, label) for value, label in read)

    async def _tell(self, mismatches: tuple[Mismatch, ...]) -> None:
        now = self._clock.now().timestamp()
        told = "servicenow:close-code:" + "|".join(f"{m.key}={m.configured}>{m.used}" for m in mismatches)
        if self._told.get(told, 0.0) > now:
            return
        # Claimed, not looked at then remembered: resolves side by side (here, or on another replica) each found the
        # operators untold and each queued the alert (found in review).
        self._told[told] = now + ASKED_AGAIN_SECONDS  # (then not asked of the store at every resolve)
        try:
            await self._store.first_time_then_queue(told, TOLD_SECONDS, now, self._alert(mismatches))
        except BaseException:  # neither claimed nor queued (one transaction): the next resolve tells them
            self._told.pop(told, None)
            raise

    async def _tell_unread(self, claim: str, alert: AlertOperators, now: float) -> None:
        """The operators told, once a month while it lasts (`claim`), that the codes could not be read, and what to
        grant."""
        try:
            await self._store.first_time_then_queue(claim, TOLD_SECONDS, now, alert)
        except Exception:  # neither claimed nor queued (one transaction): read again soon, and told then
            self._due = min(self._due, now + RETRY_SECONDS)
            log.warning("could not queue the operators' alert of the unread incident close codes; tried again in "
                        "%.0f minutes", RETRY_SECONDS / 60, exc_info=True)

    def _kept(self) -> str:
        """What resolves set while the codes cannot be read."""
        codes = self._catalogue.servicenow
        return ("the codes its close-code choices gave when they could last be read" if self._choices else
                f"the catalogue's codes as they are (`servicenow.close_code` '{codes.close_code}', "
                f"`servicenow.merged_close_code` '{codes.merged_close_code}'), whether or not the instance offers "
                "them (one it lacks is stored as an invalid choice the desk's reports do not count)")

    def _refused_alert(self, error: str) -> AlertOperators:
        return AlertOperators.grouped("servicenow:close-code", plain(
            "⚠️ ServiceNow close codes: the instance refuses the bot's integration user (`SERVICENOW_USERNAME`) the "
            f"read of its incident close codes (the `sys_choice` table): resolved tickets get {self._kept()}. Grant "
            f"it {GRANT} (System Security → Access Control (ACL), as a `security_admin`); the bot reads the codes "
            f"again within {REFRESH_SECONDS / 3600:.0f} hours, nothing to restart. ServiceNow said: ")
            + shown_error(error))

    def _hidden_alert(self) -> AlertOperators:
        return AlertOperators.grouped("servicenow:close-code", plain(
            "⚠️ ServiceNow close codes: the instance answers the bot's integration user (`SERVICENOW_USERNAME`) no "
            "incident close codes — its read of the `sys_choice` table (rows of table `incident`, element "
            "`close_code`) comes back empty, with no error. A read ACL on `sys_choice` hiding those rows from it is "
            "the likely cause (ServiceNow leaves out the rows a user may not read rather than refuse the read); else "
            f"the instance has no active close code. Meanwhile resolved tickets get {self._kept()}. To mend it, as a "
            f"`security_admin` (System Security → Access Control (ACL)): grant the integration user {GRANT}, with no "
            "condition or script that leaves out the incident close codes; and check under System Definition → "
            "Choice Lists (table `incident`, element `close_code`) that the codes are there and not inactive. The "
            f"bot reads the codes again within {REFRESH_SECONDS / 3600:.0f} hours, nothing to restart."))

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
