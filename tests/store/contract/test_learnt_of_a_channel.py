"""What an effect learnt of one channel of an incident (its name, the bot back in it: bot/services/channel_events.py)
is recorded only while the incident's footprint still names that channel (EffectBookkeeping.while_channel): another
queue may move the incident to a new channel while Slack is asked about the old one, and the old channel's pieces,
saved by the incident's id alone, landed on the new one's footprint — with the ticket told (found in review)."""

from __future__ import annotations

from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import LearnChannelName
from bot.ports.store import EffectBookkeeping, FootprintChange, Store
from tests.store.contract.builders import commit, drain, trigger

OLD, NEW = "C-old", "C-new"


def learnt_of_the_old_channel() -> EffectBookkeeping:
    kept = EffectBookkeeping(while_channel=("Q1", OLD))
    kept.remember_footprint("Q1", {"channel_name": "zz-old"})
    kept.follow_ups.append((SyncTicket("Q1", channel_renamed=True), 50.0))
    return kept


async def claimed_rename(store: Store) -> int:
    """Q1 in its channel OLD, whose rename's effect replica-a claimed."""
    await commit(store, trigger("Q1"))
    await store.update_footprint("Q1", channel_id=OLD, channel_name="inc-1")
    await store.queue_effect(LearnChannelName("Q1", OLD), now=100.0)
    [row] = [r for r in await store.due_effects(now=100.0, limit=10, busy=[]) if isinstance(r.effect, LearnChannelName)]
    assert await store.claim_effect(row.seq, owner="replica-a", now=100.0, lease_seconds=30.0)
    return row.seq


async def syncs(store: Store) -> list[SyncTicket]:
    """The ticket syncs queued (the trigger's own effects aside)."""
    return [effect for effect in await drain(store) if isinstance(effect, SyncTicket)]


async def moved(store: Store) -> None:
    """The incident's Slack queue found OLD archived and opened NEW (archived_channels.py `_move`), meanwhile."""
    await store.update_footprint("Q1", channel_id=None, channel_name=None)
    await store.update_footprint("Q1", channel_id=NEW, channel_name="inc-1-2")


async def test_a_name_learnt_of_a_channel_the_incident_left_is_not_recorded_nor_the_ticket_told(store: Store) -> None:
    seq = await claimed_rename(store)
    await moved(store)
    assert await store.effect_done(seq, owner="replica-a", bookkeeping=learnt_of_the_old_channel())
    footprint = await store.footprint("Q1")
    assert (footprint.channel_id, footprint.channel_name) == (NEW, "inc-1-2")
    assert await syncs(store) == []


async def test_a_name_learnt_of_the_channel_the_incident_is_still_in_is_recorded_and_the_ticket_told(
        store: Store) -> None:
    seq = await claimed_rename(store)
    assert await store.effect_done(seq, owner="replica-a", bookkeeping=learnt_of_the_old_channel())
    footprint = await store.footprint("Q1")
    assert (footprint.channel_id, footprint.channel_name) == (OLD, "zz-old")
    assert await syncs(store) == [SyncTicket("Q1", channel_renamed=True)]


async def test_a_retried_or_cut_short_effect_records_no_piece_of_a_channel_the_incident_left(store: Store) -> None:
    seq = await claimed_rename(store)
    await moved(store)
    assert await store.effect_retry(seq, next_attempt_at=200.0, error="timeout", owner="replica-a",
                                    bookkeeping=learnt_of_the_old_channel().facts_only())
    assert (await store.footprint("Q1")).channel_name == "inc-1-2"


async def test_a_piece_written_at_once_only_while_the_footprint_names_the_channel(store: Store) -> None:
    await commit(store, trigger("Q1"))
    await store.update_footprint("Q1", channel_id=OLD, channel_name="inc-1", bot_removed=True)
    back: FootprintChange = {"bot_removed": False, "topic": None}
    await moved(store)
    await store.update_footprint("Q1", bot_removed=True)  # (the new channel's own: the bot removed from it too)
    assert not await store.update_footprint_in_channel("Q1", OLD, back)
    assert (await store.footprint("Q1")).bot_removed
    assert await store.update_footprint_in_channel("Q1", NEW, back)
    assert not (await store.footprint("Q1")).bot_removed
    assert not await store.update_footprint_in_channel("Q2", NEW, back)  # no footprint at all: nothing written
    assert (await store.footprint("Q2")).channel_id is None
