"""A catalogue without an incident-manager rota (`incident_manager` left out): the card shows no "Page incident
manager" button, which could only answer that none is configured. Found by a newcomer (session 21)."""

from __future__ import annotations

from bot.catalogue import Catalogue
from bot.render.card import ACKNOWLEDGE, PAGE_INCIDENT_MANAGER, RESOLVE
from tests.e2e.sandbox_helpers import buttons, card, incident_channels, trigger
from tests.helpers import StartSandbox


async def test_no_incident_manager_rota_no_button(start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    assert catalogue.incident_manager is not None
    running = await start_sandbox(catalogue.model_copy(update={"incident_manager": None}))
    await trigger(running)
    [channel] = incident_channels(running)
    assert buttons(card(running, channel)) == [ACKNOWLEDGE, RESOLVE]


async def test_with_an_incident_manager_rota_the_button_is_there(start_sandbox: StartSandbox,
                                                                 catalogue: Catalogue) -> None:
    running = await start_sandbox(catalogue)
    await trigger(running)
    [channel] = incident_channels(running)
    assert PAGE_INCIDENT_MANAGER in buttons(card(running, channel))
