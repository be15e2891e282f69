"""The reports' tests run on the seed catalogue: the example catalogue with the seed's platform (its services are
the synthetic history's)."""

from __future__ import annotations

import pytest

from bot.catalogue import Catalogue, load_catalogue, seed_catalogue_path
from sandbox.world import RunningSandbox
from tests.helpers import StartSandbox


@pytest.fixture(scope="session")
def loaded_seed_catalogue() -> Catalogue:
    return load_catalogue(seed_catalogue_path())


@pytest.fixture
def seed_catalogue(loaded_seed_catalogue: Catalogue) -> Catalogue:
    return loaded_seed_catalogue.model_copy(deep=True)


@pytest.fixture
async def seed_sandbox(start_sandbox: StartSandbox, seed_catalogue: Catalogue) -> RunningSandbox:
    return await start_sandbox(seed_catalogue)
