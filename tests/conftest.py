"""Shared fixtures: the example catalogue, a bot behind its HTTP app, and the whole sandbox on port 0.

What they are made of (settings, retry policy, the quiet time the sandbox starts at) is in tests/helpers.py, for tests
that build their own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings

from bot.adapters.clock import SettableClock
from bot.app.cli.main import SDK_SELF_LEVEL_LOGGERS
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue, example_catalogue_path, load_catalogue
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox, serve_sandbox
from tests.helpers import FAST_RETRIES, QUIET_TIME, BotClient, StartSandbox, offline_settings, quiet_clock
from tests.pg_cluster import NOT_INSTALLED, PostgresCluster, binaries, running_cluster, running_pair

# Property-based tests (tests/property/): "ci" is what `make test` runs; HYPOTHESIS_PROFILE=thorough runs many more
# examples. No deadline: this machine is shared, and timing belongs in bench/, never in a test.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def report_catalogue_views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where `pavedroad report` keeps its catalogue views during the tests (bot/app/cli/report_catalogue.py): a
    folder of the session's, not the user's ~/.cache (the tests' subprocesses inherit it)."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the session's own (tests/pg_cluster.py), started on first use and removed at the
    end; tests take a database of their own from it (`fresh_database`). Skipped where PostgreSQL is not installed."""
    if binaries() is None:
        pytest.skip(NOT_INSTALLED)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of the test's own, for a test that stops, starts or pauses it under the bot (the session's must not
    be). Skipped where PostgreSQL is not installed."""
    if binaries() is None:
        pytest.skip(NOT_INSTALLED)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    """A cluster of the test's own and its synchronous streaming standby (tests/pg_cluster.py's `running_pair`), for
    a test that fails the one over to the other under the bot. Skipped where PostgreSQL is not installed."""
    if binaries() is None:
        pytest.skip(NOT_INSTALLED)
    with running_pair() as pair:
        yield pair


@pytest.fixture(scope="session")
def loaded_catalogue() -> Catalogue:
    return load_catalogue(example_catalogue_path())


@pytest.fixture
def catalogue(loaded_catalogue: Catalogue) -> Catalogue:
    """The example catalogue (bot/example_catalogue.yml), a copy of its own for each test: loaded once, since
    validating it is what takes the time."""
    return loaded_catalogue.model_copy(deep=True)


@pytest.fixture
async def offline_bot(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[tuple[Bot, BotClient]]:
    bot = Bot(offline_settings(tmp_path / "bot.db"), catalogue, retry_policy=RetryPolicy(max_attempts=1),
              clock=quiet_clock())
    client = TestClient(TestServer(build_web_app(bot)))
    await client.start_server()
    yield bot, client
    await client.close()


@pytest.fixture
async def start_sandbox(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[StartSandbox]:
    started: list[RunningSandbox] = []

    async def start(organisation: Catalogue | None = None, *, at: datetime = QUIET_TIME, db: str = "sandbox.db",
                    retry_policy: RetryPolicy = FAST_RETRIES, socket_mode: bool = False,
                    faults: Sequence[Fault] = (), database_url: str | None = None) -> RunningSandbox:
        running = await serve_sandbox(organisation or catalogue, tmp_path / db, port=0, rate_limit_scale=50,
                                      retry_policy=retry_policy, socket_mode=socket_mode, clock=SettableClock(at),
                                      faults=faults, database_url=database_url)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.bot.running:  # not stopped by the test itself (a restart)
            await running.stop()


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> RunningSandbox:
    return await start_sandbox()


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """configure_logging changes process-wide state: put every logger's level and the root's handlers back."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    levels.update({name: logging.getLogger(name).level for name in SDK_SELF_LEVEL_LOGGERS})
    yield
    root.handlers[:], root.level = handlers, root_level
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
