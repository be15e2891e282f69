"""Shared fixtures: the example catalogue, a bot behind its HTTP app, and the whole sandbox on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.clock import SettableClock
from bot.app.config import Settings
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue, example_catalogue_path, load_catalogue
from bot.services.dispatcher import RetryPolicy
from sandbox.world import RunningSandbox, serve_sandbox

WEBHOOK_SECRET = "test-webhook-secret"
FAST_RETRIES = RetryPolicy(max_attempts=6, base_seconds=0.02, max_seconds=0.2)


@pytest.fixture
def catalogue() -> Catalogue:
    return load_catalogue(example_catalogue_path())


def offline_settings(db_path: Path, secrets: tuple[str, ...] = (WEBHOOK_SECRET,)) -> Settings:
    """A bot whose outside services are unreachable: enough for everything up to the inbox."""
    return Settings(slack_bot_token="xoxb-test", slack_signing_secret="signing", slack_app_token=None,
                    slack_api_url="http://127.0.0.1:9/api/", slack_rate_limit_scale=0,
                    pagerduty_api_token="pd", pagerduty_webhook_secrets=secrets,
                    pagerduty_api_url="http://127.0.0.1:9", catalogue_path=Path("x"), db_path=db_path, port=0,
                    log_level="INFO")


@pytest.fixture
async def offline_bot(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[tuple[Bot, TestClient]]:  # type: ignore[type-arg]
    bot = Bot(offline_settings(tmp_path / "bot.db"), catalogue, retry_policy=RetryPolicy(max_attempts=1))
    client = TestClient(TestServer(build_web_app(bot)))
    await client.start_server()
    yield bot, client
    await client.close()


# A Wednesday noon in London: no rota's handover is due within its grace period, so no handover post appears in
# team channels whatever the real time of day the tests run at (the sandbox's emulators and bot share this clock).
QUIET_TIME = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def quiet_clock(at: datetime = QUIET_TIME) -> SettableClock:
    return SettableClock(at)


@pytest.fixture
async def sandbox(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[RunningSandbox]:
    running = await serve_sandbox(catalogue, tmp_path / "sandbox.db", port=0, rate_limit_scale=50,
                                  retry_policy=FAST_RETRIES, clock=quiet_clock())
    yield running
    await running.stop()
