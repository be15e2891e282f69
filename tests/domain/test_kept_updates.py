"""Which status updates an incident keeps: its last twenty, and those still awaiting PagerDuty's confirmation."""

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


def test_the_last_twenty_confirmed_updates_are_kept() -> None:
    updates = tuple(update(n, confirmed=True) for n in range(30))
    assert ids(kept_updates(updates)) == [f"u{n}" for n in range(10, 30)]


def test_older_updates_awaiting_pagerduty_are_kept_in_order() -> None:
    updates = tuple(update(n, confirmed=n not in (3, 7)) for n in range(30))
    assert ids(kept_updates(updates)) == ["u3", "u7", *(f"u{n}" for n in range(10, 30))]


def test_updates_pagerduty_will_never_see_are_not_kept_for_it() -> None:
    """No author PagerDuty knows (never published there), or made in PagerDuty itself: nothing awaits it."""
    no_email = tuple(replace(update(n), author_email=None) for n in range(25))
    made_there = tuple(replace(update(n), source="pagerduty") for n in range(25))
    assert len(kept_updates(no_email)) == len(kept_updates(made_there)) == KEPT_UPDATES


def test_awaiting_updates_are_kept_for_hours_not_forever() -> None:
    """Long past its effects' retries, an update PagerDuty never confirmed is let go; and at most twenty of them."""
    stale = update(0)
    fresh = tuple(update(n, confirmed=True, minutes=30) for n in range(1, KEPT_UPDATES + 1))
    assert fresh[-1].at - stale.at > AWAITING_KEPT_FOR
    assert ids(kept_updates((stale, *fresh))) == ids(fresh)
    many = tuple(update(n) for n in range(60))
    assert ids(kept_updates(many)) == [f"u{n}" for n in range(20, 60)]
