"""The PagerDuty emulator's fixtures, shared by its test modules: the OpenAPI validator, the bot's webhook endpoint
as a receiver, the emulator served with a frozen clock (`make_sandbox`, `pd`) and a real REST client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Unpack

import pagerduty
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.clock import SettableClock
from bot.catalogue import Catalogue
from sandbox.faults import Faults
from sandbox.pagerduty.emulator import PagerDutyEmulator
from sandbox.pagerduty.openapi import PagerDutyRequestValidator, load_pagerduty_validator
from tests.sandbox.pagerduty_env import (
    SECRETS,
    START,
    TOKEN,
    MakePd,
    PagerDutyReceiver,
    PdOptions,
    PdSandbox,
    check_signed,
    response_checker,
    rest_client,
)
from tests.sandbox.receivers import serving


@pytest.fixture(scope="session")
def validator() -> PagerDutyRequestValidator:
    return load_pagerduty_validator()  # seconds to load, and never changed: one for the run


@pytest.fixture
async def pd_receiver() -> AsyncIterator[PagerDutyReceiver]:
    async with serving(PagerDutyReceiver(), "/pagerduty/webhook", check_signed, usual_status=202) as receiver:
        yield receiver


@pytest.fixture
async def make_sandbox(validator: PagerDutyRequestValidator, catalogue: Catalogue,
                       pd_receiver: PagerDutyReceiver) -> AsyncIterator[MakePd]:
    started: list[PdSandbox] = []
    problems: list[str] = []
    seed = catalogue.sandbox
    assert seed is not None

    async def make(**options: Unpack[PdOptions]) -> PdSandbox:
        clock, faults = SettableClock(START, frozen=True), Faults()
        options.setdefault("validator", validator)
        emulator = PagerDutyEmulator(
            seed=seed, services=[(s.pagerduty_service_id, s.name) for s in catalogue.services], faults=faults,
            api_token=TOKEN, webhook_secrets=SECRETS, clock=clock.now, webhook_backoff_seconds=0.01, **options)
        app = web.Application(middlewares=[response_checker(validator, problems)])
        emulator.add_routes(app)
        server = TestServer(app, port=0)
        await server.start_server()
        emulator.public_url = str(server.make_url("")).rstrip("/")
        emulator.webhook_url = pd_receiver.url
        started.append(PdSandbox(emulator, server, clock, faults))
        return started[-1]

    yield make
    for pd in started:
        await pd.emulator.close()
        await pd.server.close()
    assert problems == [], "answers that depart from PagerDuty's documented responses"


@pytest.fixture
async def pd(make_sandbox: MakePd) -> PdSandbox:
    return await make_sandbox()


@pytest.fixture
def client(pd: PdSandbox) -> Iterator[pagerduty.RestApiV2Client]:
    with rest_client(pd) as rest:
        yield rest
