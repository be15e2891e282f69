"""Who a PagerDuty user is in Slack: PagerDuty user → email → Slack user, cached in the store with an expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot.ports import Chat, Clock, Paging
from bot.ports.people_cache import CachedPerson, PeopleCache

CACHE_SECONDS = 6 * 3600
REMEMBERED_PEOPLE = 10_000


@dataclass(frozen=True)
class Responder:
    pagerduty_user_id: str
    name: str
    slack_user_id: str | None
    known_to_pagerduty: bool = True  # False: PagerDuty's API has no such user (deleted since it was assigned?)


class People:
    def __init__(self, store: PeopleCache, paging: Paging, chat: Chat, clock: Clock,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self._store, self._paging, self._chat, self._clock = store, paging, chat, clock
        self._cache_seconds = cache_seconds
        # The store's rows as this process last read or wrote them: a channel's opening and each invitation look up
        # the same responders, a store trip each. Kept while fresh by the same expiry as the store's rows (another
        # replica's newer row is only seen once this one expires: the row is a cache of PagerDuty and Slack anyway).
        self._remembered: dict[str, CachedPerson] = {}

    async def responders(self, pagerduty_user_ids: Sequence[str]) -> list[Responder]:
        """Look everyone up concurrently; someone without a Slack account comes back with slack_user_id None."""
        wanted = list(dict.fromkeys(pagerduty_user_ids))
        now = self._clock.now().timestamp()
        known = {uid: self._fresh(uid, now) for uid in wanted}
        # Only those not remembered fresh are looked up, concurrently: the rest need no task each (nearly always
        # all of them: every effect of an incident asks for the same few people).
        missing = [uid for uid, responder in known.items() if responder is None]
        if missing:
            known.update(zip(missing, await asyncio.gather(*(self.responder(uid) for uid in missing)), strict=True))
        return [r for r in known.values() if r is not None]

    def _fresh(self, pagerduty_user_id: str, now: float) -> Responder | None:
        """Who this is, as this process remembers them while that is fresh (else None: ask the store)."""
        cached = self._remembered.get(pagerduty_user_id)
        if cached is None or now - cached.fetched_at >= self._cache_seconds:
            return None
        return Responder(pagerduty_user_id, cached.name or pagerduty_user_id, cached.slack_user_id)

    def remembered(self, pagerduty_user_id: str) -> Responder | None:
        """The responder as this process last found them, while still fresh; None: only `responder` can say."""
        cached = self._remembered.get(pagerduty_user_id)
        if cached is None or self._clock.now().timestamp() - cached.fetched_at >= self._cache_seconds:
            return None
        return Responder(pagerduty_user_id, cached.name or pagerduty_user_id, cached.slack_user_id)

    async def responder(self, pagerduty_user_id: str) -> Responder:
        now = self._clock.now().timestamp()
        cached = self._remembered.get(pagerduty_user_id)
        if cached is None or now - cached.fetched_at >= self._cache_seconds:
            cached = await self._store.person(pagerduty_user_id)
            if cached is not None:
                self._remember(cached)
        if cached and now - cached.fetched_at < self._cache_seconds:
            return Responder(pagerduty_user_id, cached.name or pagerduty_user_id, cached.slack_user_id)
        user = await self._paging.user(pagerduty_user_id)
        if user is None:
            return Responder(pagerduty_user_id, pagerduty_user_id, None, known_to_pagerduty=False)
        slack_id = await self._chat.user_id_by_email(user.email) if user.email else None
        person = CachedPerson(pagerduty_user_id, user.name, user.email, slack_id, now)
        await self._store.save_person(person)
        self._remember(person)
        return Responder(pagerduty_user_id, user.name, slack_id)

    def _remember(self, person: CachedPerson) -> None:
        if len(self._remembered) >= REMEMBERED_PEOPLE:  # bounded: an organisation's responders fit many times over
            self._remembered.clear()
        self._remembered[person.pagerduty_user_id] = person
