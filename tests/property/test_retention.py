"""Retention, property-based: whatever the catalogue's `retention` section says, it is refused with a message naming
`retention.days` or read as at least one day, and the rows are then kept at least that long and at least two
reminder intervals; and whatever mix of effects, ages, cutoffs and batch sizes, pruning to the end deletes exactly
the effects done before the cutoff — never one pending or dead, never one queued after it."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import CatalogueError, example_catalogue_path, parse_catalogue
from bot.domain.effects.slack import RefreshCard
from bot.services.retention import Retention, kept_seconds

EXAMPLE = yaml.safe_load(example_catalogue_path().read_text())
values = st.one_of(st.none(), st.booleans(), st.integers(-10, 10_000), st.floats(allow_nan=True),
                   st.text(max_size=10), st.lists(st.integers(), max_size=2))


@settings(max_examples=60)
@given(section=st.one_of(values, st.dictionaries(st.sampled_from(["days", "keep", "Days"]), values, max_size=2)),
       remind_after=st.integers(1, 100_000))
@example(section={"days": 297527905027585.0}, remind_after=1)  # found by Hypothesis: a typo of a retention, accepted
def test_any_retention_section_is_refused_by_name_or_kept_at_least_a_day(section: Any, remind_after: int) -> None:
    data = {**EXAMPLE, "retention": section, "status_updates": {**EXAMPLE["status_updates"],
                                                                "remind_after": remind_after}}
    try:
        catalogue = parse_catalogue(data, Path("catalogue.yml"))
    except CatalogueError as error:
        assert any(p.startswith("retention") for p in error.problems), error.problems
        return
    days = catalogue.retention.days
    assert isinstance(days, int) and days >= 1
    kept = kept_seconds(catalogue)
    assert kept >= days * 86_400 and kept >= 2 * remind_after * 60


DONE, PENDING, DEAD = "done", "pending", "dead"


async def prune_all(effects: list[tuple[float, str]], cutoff: float, limit: int) -> tuple[int, set[int], set[int], int]:
    """Queue the effects (each queued at its time, left in its state) and prune to the end: how many were pruned,
    which are still pending and dead (by index), and how many done ones a second pruning, of everything, finds."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bot.db")
        await store.open()
        try:
            for n, (queued_at, _) in enumerate(effects):
                await store.queue_effect(RefreshCard(f"Q{n}"), now=queued_at)
            for row in await store.due_effects(now=1e9, limit=len(effects) + 1, busy=[]):
                state = effects[int(row.effect.incident_id[1:])][1]
                if state == DONE:
                    await store.effect_done(row.seq)
                elif state == DEAD:
                    await store.effect_dead(row.seq, "gone", None, now=1e9)
            retention = Retention(store, parse_catalogue(EXAMPLE, Path("c.yml")), SettableClock(datetime.now(UTC)),
                                  batch=limit, pause_seconds=0)
            pruned = (await retention.prune_settled_before(cutoff, now=cutoff))["outbox"]
            pending = {int(r.effect.incident_id[1:]) for r in await store.due_effects(now=1e9, limit=1000, busy=[])}
            dead = {int(d["incident_id"][1:]) for d in await store.dead_effects()}
            rest = (await retention.prune_settled_before(1e9, now=cutoff))["outbox"]
            return pruned, pending, dead, rest
        finally:
            await store.close()


@settings(max_examples=25, deadline=None)
@given(effects=st.lists(st.tuples(st.floats(0, 1000), st.sampled_from([DONE, PENDING, DEAD])), max_size=12),
       cutoff=st.floats(0, 1000), limit=st.integers(1, 4))
def test_pruning_deletes_exactly_the_effects_done_before_the_cutoff(effects: list[tuple[float, str]], cutoff: float,
                                                                    limit: int) -> None:
    pruned, pending, dead, rest = asyncio.run(prune_all(effects, cutoff, limit))
    done = [queued_at for queued_at, state in effects if state == DONE]
    assert pruned == sum(1 for queued_at in done if queued_at < cutoff)
    assert rest == len(done) - pruned
    assert pending == {n for n, (_, state) in enumerate(effects) if state == PENDING}
    assert dead == {n for n, (_, state) in enumerate(effects) if state == DEAD}
