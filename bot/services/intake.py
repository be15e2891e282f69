"""Durable intake of webhooks (PagerDuty's v3, ServiceNow's business rule): authenticate, check the body, store in
the inbox, then answer.

`receive` raises `Rejected(status, reason)` for what must not be stored: 413 too big, 401 an unverifiable signature,
400 a body that is not a delivery (not UTF-8, not JSON, too deep, not the sender's envelope). Everything else —
event types we do not handle, and content the worker will not be able to read — is stored, because PagerDuty
disables a subscription after dropped deliveries; the worker quarantines what it cannot read. The wire formats
are the adapters' (a `Webhook` from bot/ports.py, handed in by bot/app/runtime.py). Nothing here logs a secret or
a payload.

With an `Applier` (the worker, when it runs in this process), a delivery is applied as it is stored, in the same
transaction, unless a row of its incident (or one with no incident) stored before it waits (`Inbox.record_and_apply`):
one durable commit per delivery instead of two, and no wake-up of the worker. The answer still waits for that
commit: a 2xx means stored (and, here, applied). A delivery that could not be applied on arrival is left pending and
the worker is woken for it, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.incident import Decision, Incident
from bot.errors import DeliveryError
from bot.ports import Delivery, Webhook
from bot.ports.store import Inbox, InboxRow, Skip

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


class Rejected(Exception):
    """The delivery is refused: `status` is the HTTP status to answer, `reason` a one-line explanation."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Applier(Protocol):
    """What applies deliveries (bot/services/worker.py): its pure decision, its clock, and what follows decisions
    once stored (the dispatcher woken, a resolved incident's review)."""

    def decide(self, row: InboxRow, incident: Incident | None) -> Decision | Skip: ...
    def now(self) -> float: ...
    async def settle(self, decisions: Sequence[Decision]) -> None: ...


@dataclass(frozen=True)
class Received:
    event_id: str
    event_type: str
    duplicate: bool
    echo: bool = False  # the bot's own write, told back: answered, not stored


class _Intake:
    """Check, then store: what PagerDuty's and ServiceNow's intakes share."""

    source = ""
    too_big = ""

    def __init__(self, store: Inbox, webhook: Webhook, on_stored: Callable[[], None],
                 clock: Callable[[], str], applier: Applier | None = None) -> None:
        self._store, self._webhook, self._on_stored, self._now = store, webhook, on_stored, clock
        self._applier = applier

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Received:
        if len(body) > MAX_BODY_BYTES:
            raise Rejected(413, f"body is {len(body)} bytes; {self.too_big} at most {MAX_BODY_BYTES}")
        delivery = _read(self._webhook, body, headers)
        if delivery.echo:
            # Our own update, told back by ServiceNow's business rule (when its integration_user property is not
            # set): storing and applying it would cost two durable writes to decide that nothing happened.
            return Received(delivery.event_id, delivery.event_type, duplicate=False, echo=True)
        # The body stored is the adapter's cleaned JSON, never the raw bytes: nothing downstream meets a lone
        # surrogate, a NUL or a byte-order mark.
        occurred_at = delivery.occurred_at or self._now()
        applier = self._applier
        if applier is None:
            stored = await self._store.record_delivery(
                source=self.source, delivery_id=delivery.delivery_id, event_id=delivery.event_id,
                event_type=delivery.event_type, incident_id=delivery.incident_id, occurred_at=occurred_at,
                body=delivery.body)
            if stored:
                self._on_stored()
            return Received(delivery.event_id, delivery.event_type, duplicate=not stored)
        arrival = await self._store.record_and_apply(
            source=self.source, delivery_id=delivery.delivery_id, event_id=delivery.event_id,
            event_type=delivery.event_type, incident_id=delivery.incident_id, occurred_at=occurred_at,
            body=delivery.body, decide=applier.decide, now=applier.now())
        if arrival.stored and arrival.outcome is None:
            self._on_stored()  # left pending: the worker applies it
        elif isinstance(arrival.outcome, Decision):
            try:
                await applier.settle([arrival.outcome])
            except Exception:  # stored and applied: the sender must not hear a failure and send it again
                log.exception("%s delivery %s applied, but what follows it failed", self.source, delivery.event_id)
        return Received(delivery.event_id, delivery.event_type, duplicate=not arrival.stored)


class PagerDutyIntake(_Intake):
    """POST /pagerduty/webhook: PagerDuty's v3 deliveries, signed with any of PAGERDUTY_WEBHOOK_SECRETS."""

    source = "pagerduty"
    too_big = "PagerDuty webhooks are"


class ServiceNowIntake(_Intake):
    """POST /servicenow/webhook: the business rule's deliveries, signed with SERVICENOW_WEBHOOK_SECRET
    (`X-ServiceNow-Signature`: hex HMAC-SHA256 of the raw body), stored like PagerDuty's before the answer."""

    source = "servicenow"
    too_big = "bodies accepted are"


def _read(webhook: Webhook, body: bytes, headers: Mapping[str, str]) -> Delivery:
    """The delivery, signed and well-formed, or Rejected: 401 for the signature, 400 for the body."""
    try:
        webhook.check_signature(body, headers)
    except DeliveryError as error:
        raise Rejected(401, str(error)) from None
    try:
        return webhook.read_delivery(body, headers)
    except DeliveryError as error:
        raise Rejected(400, str(error)) from None
