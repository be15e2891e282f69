"""Whatever a person types after `/incident followup`, on PostgreSQL (whose text cannot hold a NUL), the follow-up
recorded is their words as typed, with only the NULs gone (bot/domain/storable.py's rule, applied where Slack's
requests enter Bolt: commands/in_flight.py); nothing is set aside when the worker applies it, and the answer is never
"something went wrong". Property-based, through the real door: signed form POSTs to the bot's /slack/events, as
Slack sends a command (a form: UTF-8, so no lone surrogate can be typed)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.domain.storable import storable
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import command, went_wrong
from tests.e2e.sandbox_helpers import incident_channels, settle, trigger
from tests.helpers import StartSandbox
from tests.pg_cluster import PostgresCluster
from tests.property.loop_bridge import OnTheLoop, run_property

# Words as typed: any character UTF-8 carries, NUL often, but not Slack's markup (<, >, &, which Slack escapes and
# the bot reads back as mentions and links) nor "@" (an owner named at the end is taken out of the text).
typed = st.text(alphabet=st.one_of(st.just("\x00"), st.characters(codec="utf-8", exclude_characters="<>&@")),
                max_size=60)


@pytest.fixture
async def on_postgres(start_sandbox: StartSandbox, postgres_cluster: PostgresCluster) -> RunningSandbox:
    return await start_sandbox(database_url=postgres_cluster.url(postgres_cluster.fresh_database()))


async def test_a_follow_up_keeps_whatever_was_typed_but_its_nuls(on_postgres: RunningSandbox) -> None:
    running = on_postgres
    incident = await trigger(running)
    [channel] = incident_channels(running)
    on_loop, numbers = OnTheLoop(), itertools.count(1)

    async def follow_up(text: str) -> tuple[list[str], list[str], object]:
        answers = await command(running, f"followup {text}", channel=channel["id"])
        await settle(running)
        stored = await running.bot.store.incident(incident["id"])
        assert stored is not None
        return answers, [f.text for f in stored.follow_ups], (await running.bot.readiness())["inbox_failed"]

    @given(text=typed)
    @example(text="warm the\x00 cache")
    @example(text="\x00")
    def prop(text: str) -> None:
        # Numbered, so that no two examples are the same command (a repeat within seconds is "already on it"); not a
        # bare number, which alone (the text all NULs, which are dropped) names another incident.
        words = f"n{next(numbers)} {text}"
        answers, follow_ups, set_aside = on_loop.run(follow_up(words))
        assert not any(went_wrong(answer) for answer in answers), answers
        assert set_aside == 0
        assert follow_ups[-1] == storable(words).strip()

    await run_property(prop)
