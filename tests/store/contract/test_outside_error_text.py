"""An outside service's failure is recorded on every store whatever its words hold: half an emoji (a lone surrogate,
which SQLite's driver cannot write as UTF-8) or a NUL (which PostgreSQL's text cannot hold). The stores write the
text as given; IntegrationError makes it storable where it enters (bot/domain/storable.py), and this holds that it
is then storable in both: the effect's retry, its death and its alert are recorded."""

from __future__ import annotations

from bot.domain.alert_text import shown_error
from bot.domain.effects import AlertOperators
from bot.errors import IntegrationError
from bot.ports.store import Store
from tests.store.contract.builders import commit, trigger

WORDS = "half an emoji \ud800, a NUL \x00, the other half \udc00"
STORED = "slack: conversations.create failed: half an emoji \ufffd, a NUL , the other half \ufffd"


async def test_a_failure_in_words_no_store_takes_as_they_are_is_retried_then_parked_dead_with_its_alert(
        store: Store) -> None:
    error = str(IntegrationError("slack", f"conversations.create failed: {WORDS}", retryable=True, code=WORDS))
    assert error == STORED
    await commit(store, trigger("Q1"))
    [opening] = await store.due_effects(now=100.0, limit=10, busy=[])
    assert await store.claim_effect(opening.seq, owner="replica-a", now=100.0, lease_seconds=30.0)
    assert await store.effect_retry(opening.seq, next_attempt_at=101.0, error=error, owner="replica-a", failed=True)
    assert [r.seq for r in await store.due_effects(now=101.0, limit=10, busy=[])][:1] == [opening.seq]

    assert await store.claim_effect(opening.seq, owner="replica-a", now=101.0, lease_seconds=30.0)
    alert = AlertOperators("operators", f"could not open the channel: {shown_error(error)}")
    assert await store.effect_dead(opening.seq, error, alert, now=101.0, owner="replica-a")
    assert [(d["seq"], d["last_error"]) for d in await store.dead_effects()] == [(opening.seq, STORED)]
    assert alert in [r.effect for r in await store.due_effects(now=101.0, limit=10, busy=[])]
