"""Whose journal entries are the bot's own (bot/adapters/servicenow/tickets.py `work_notes(own=True)`), against the
ServiceNow emulator: the integration user's, as ServiceNow stamps it on `sys_created_by` — a String of 40, so a longer
user ID (an e-mail-like one) is stamped cut to it — and those of the users it was before
(SERVICENOW_PREVIOUS_USERNAMES): read as someone else's, the bot's own notes were written again on every retry, and
the channel names it had told a ticket were lost, after its integration user was replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.servicenow.tickets import ServiceNowTickets
from bot.adapters.servicenow.webhook import ServiceNowWebhook
from bot.app.config import ServiceNowAccess, load_settings
from bot.metrics import Metrics
from bot.services.ticket_pages import note_once
from sandbox.faults import Faults
from sandbox.servicenow.emulator import ServiceNowEmulator

PASSWORD = "s3cret"
LONG_USER = "pavedroad.incident.integration@retail-platform.example.com"  # 58 characters
NOTE = "Paved Road: paged Payments (PagerDuty incident PT4KHLK) for this ticket. [paved-road batch-3]"

Adapter = Callable[..., ServiceNowTickets]


@pytest.fixture
async def instance() -> AsyncIterator[tuple[ServiceNowEmulator, Adapter]]:
    """The emulator, its integration user `LONG_USER`, behind a test server; and a maker of the bot's adapter to it."""
    emulator = ServiceNowEmulator(groups=["Service Desk"], faults=Faults(), username=LONG_USER, password=PASSWORD,
                                  webhook_secret="webhook")
    app = web.Application()
    emulator.add_routes(app)
    server = TestServer(app, port=0)
    await server.start_server()
    emulator.public_url = str(server.make_url("")).rstrip("/")
    made: list[ServiceNowTickets] = []

    def adapter(user: str = LONG_USER, previous: tuple[str, ...] = ()) -> ServiceNowTickets:
        made.append(ServiceNowTickets(ServiceNowAccess(emulator.instance_url, user, PASSWORD, None, previous),
                                      Metrics(), timeout=5))
        return made[-1]
    yield emulator, adapter
    for tickets in made:
        await tickets.close()
    await server.close()


async def test_a_user_id_longer_than_the_field_finds_its_own_notes(
        instance: tuple[ServiceNowEmulator, Adapter]) -> None:
    emulator, adapter = instance
    tickets = adapter()
    sys_id = emulator.create_incident({"short_description": "Checkout returns 500s"})["sys_id"]
    await note_once(tickets, sys_id, NOTE, retry=False)
    [entry] = [e for e in emulator.entries_on(sys_id) if e.value == NOTE]
    assert await tickets.work_notes(sys_id, own=True) == [NOTE]  # stamped cut to 40, still the bot's
    await note_once(tickets, sys_id, NOTE, retry=True)  # a retry after a lost answer: not written again
    assert [e.value for e in emulator.entries_on(sys_id)].count(NOTE) == 1, entry


async def test_a_replaced_integration_users_notes_stay_the_bots(instance: tuple[ServiceNowEmulator, Adapter]) -> None:
    emulator, adapter = instance
    sys_id = emulator.create_incident({"short_description": "Checkout returns 500s"})["sys_id"]
    emulator.update_incident(sys_id, {"work_notes": NOTE}, user="pavedroad.old")  # the user the bot was before
    emulator.update_incident(sys_id, {"work_notes": f"FYI {NOTE}"}, user="jane.agent")  # a desk agent's copy
    assert await adapter().work_notes(sys_id, own=True) == []  # not told who it was: neither is its own
    replaced = adapter(previous=("PavedRoad.Old",))  # in another case than the user record's
    assert await replaced.work_notes(sys_id, own=True) == [NOTE]
    await note_once(replaced, sys_id, NOTE, retry=True)
    assert [e.value for e in emulator.entries_on(sys_id)].count(NOTE) == 1


def test_previous_usernames_are_read_from_the_environment() -> None:
    settings = load_settings({
        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_API_TOKEN": "t",
        "PAGERDUTY_WEBHOOK_SECRETS": "w", "SERVICENOW_INSTANCE_URL": "https://acme.service-now.com",
        "SERVICENOW_USERNAME": "pavedroad.integration", "SERVICENOW_PASSWORD": "p",
        "SERVICENOW_WEBHOOK_SECRET": "w", "SERVICENOW_PREVIOUS_USERNAMES": " pavedroad.old, ,svc.incidents "})
    assert settings.servicenow is not None
    assert settings.servicenow.previous_usernames == ("pavedroad.old", "svc.incidents")


def test_an_update_by_a_long_user_id_comes_back_as_an_echo() -> None:
    """The business rule sends `sys_updated_by`, a String of 40 too: the bot's own update, stamped cut, is its echo."""
    hook = ServiceNowWebhook("secret", LONG_USER)
    body = (b'{"sys_id": "a1", "number": "INC0010001", "operation": "update", "state": "2", "table": "incident", '
            b'"updated_by": "' + LONG_USER[:40].encode() + b'", "updated_on": "2026-12-05 10:00:00"}')
    assert hook.read_delivery(body, {}).echo
    assert not hook.read_delivery(body.replace(LONG_USER[:40].encode(), b"jane.agent"), {}).echo
