"""Which status updates an incident keeps: its last twenty, and those made through the bot within hours (their
PagerDuty copy, stakeholders' post and ticket comment may still be on their way)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.coordination import AWAITING_KEPT_FOR, KEPT_UPDATES, StatusUpdate, kept_updates

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def update(n: int, *, confirmed: bool = False, minutes: int = 1) -> StatusUpdate:
    return StatusUpdate(id=f"u{n}", at=START + timedelta(minutes=minutes * n), author="Erin", what=f"step {n}",
                        author_email="erin@example.com", in_pagerduty=confirmed)


def ids(updates: tuple[StatusUpdate, ...]) -> list[str]:
    return [u.id for u in updates]


def test_the_last_twenty_are_kept_once_the_older_are_hours_old() -> None:
    updates = tuple(update(n, confirmed=True, minutes=30) for n in range(30))
    assert ids(kept_updates(updates)) == [f"u{n}" for n in range(10, 30)]


def test_older_updates_made_through_the_bot_are_kept_in_order_though_pagerduty_confirmed_them() -> None:
    """PagerDuty's confirmation says nothing of the stakeholders' post or the ticket's comment (Slack or ServiceNow
    down): an update made lately is kept whether PagerDuty has it or not."""
    updates = tuple(update(n, confirmed=n not in (3, 7)) for n in range(30))
    assert ids(kept_updates(updates)) == [f"u{n}" for n in range(30)]
    no_email = tuple(replace(update(n), author_email=None) for n in range(25))  # shared and commented, never published
    assert len(kept_updates(no_email)) == 25


def test_updates_made_in_pagerduty_are_not_kept_for_it() -> None:
    """Made in PagerDuty itself: nothing of the bot's is on its way for them."""
    made_there = tuple(replace(update(n), source="pagerduty") for n in range(25))
    assert len(kept_updates(made_there)) == KEPT_UPDATES


def test_updates_made_through_the_bot_are_kept_for_hours_not_forever() -> None:
    """Long past its effects' retries, an update is let go; and at most twenty of them."""
    stale = update(0)
    fresh = tuple(update(n, confirmed=True, minutes=30) for n in range(1, KEPT_UPDATES + 1))
    assert fresh[-1].at - stale.at > AWAITING_KEPT_FOR
    assert ids(kept_updates((stale, *fresh))) == ids(fresh)
    many = tuple(update(n) for n in range(60))
    assert ids(kept_updates(many)) == [f"u{n}" for n in range(20, 60)]
