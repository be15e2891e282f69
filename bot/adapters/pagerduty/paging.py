"""PagerDuty adapter: the Paging port over the `pagerduty` package's RestApiV2Client (pdpyras's successor).

The client is synchronous (httpx), so every call runs on a small dedicated thread pool, never on the event loop.
Its own retry loop is turned down (one quick retry on 429) because retries belong to the outbox, which remembers
what was done; errors become IntegrationError carrying PagerDuty's error code (e.g. 1001 already resolved).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx2
import pagerduty

from bot.adapters.pagerduty.client import rest_client
from bot.domain.storable import storable
from bot.errors import NOT_SENT, IntegrationError
from bot.metrics import Metrics
from bot.ports import OnCall, PagingUser, ShiftEntry
from bot.ports.answers import answered

T = TypeVar("T")
_NOT_CONNECTED = (httpx2.ConnectError, httpx2.ConnectTimeout)
# The most escalation policies read looking for the one named (five pages): a one-letter query matches most of an
# account's, and the read holds one of the few PagerDuty threads after the person's command has given up waiting.
MAX_POLICIES_READ = 500
# The most users read looking for one email (ten pages): the query matches inside other emails too.
MAX_USERS_READ = 1000


class PagerDutyPaging:
    def __init__(self, token: str, base_url: str | None, metrics: Metrics, threads: int = 4,
                 timeout: int = 10) -> None:
        self.client = rest_client(token, base_url, timeout=timeout)  # the outbox does the patient retries
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pagerduty")
        self._metrics = metrics

    async def _call(self, label: str, fn: Callable[[], T], check: bool = False) -> T:
        """Run one client call on the pool. `check`: the call returns a raw response (for endpoints the client
        does not unwrap), whose error status is raised like the wrapped calls' are."""
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, fn)
            if check and isinstance(result, httpx2.Response) and not result.is_success:
                raise pagerduty.HttpError(f"HTTP {result.status_code}", result)
        except pagerduty.HttpError as error:
            raise self._translate(label, error) from None
        except (pagerduty.Error, httpx2.HTTPError) as error:
            self._metrics.call("pagerduty", label, "network_error").inc()
            # No connection made (refused, DNS, connect timeout; the client wraps httpx's error): nothing was sent.
            unsent = isinstance(error, _NOT_CONNECTED) or isinstance(error.__cause__, _NOT_CONNECTED)
            raise IntegrationError("pagerduty", f"{label}: could not reach PagerDuty ({error.__class__.__name__})",
                                   retryable=True, code=NOT_SENT if unsent else None) from None
        self._metrics.call("pagerduty", label, "ok").inc()
        answered("pagerduty", read=label.startswith("GET "))
        return result

    def _translate(self, label: str, error: Any) -> IntegrationError:
        response = error.response
        status = response.status_code
        body: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            document = response.json()
            # Only PagerDuty's own shape is read: a gateway's JSON that is a list, or whose `error` is a string,
            # says nothing more than the status does.
            found = document.get("error") if isinstance(document, dict) else None
            body = found if isinstance(found, dict) else {}
        code = str(body.get("code")) if body.get("code") is not None else str(status)
        message = str(body.get("message") or f"HTTP {status}")
        errors = body.get("errors")
        details = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
        reset = _seconds(response.headers.get("ratelimit-reset"))
        self._metrics.call("pagerduty", label, str(status)).inc()
        return IntegrationError("pagerduty", f"{label}: {message}" + (f" ({details})" if details else ""),
                                retryable=status == 429 or status >= 500, code=code, status=status,
                                # ratelimit-reset is when the rate-limit window resets: it says when to retry a 429
                                # only (it is on every answer, and a 503 should back off as usual).
                                retry_after=reset if status == 429 else None)

    async def user(self, user_id: str) -> PagingUser | None:
        try:
            data = await self._call("GET /users/{id}", lambda: self.client.rget(f"/users/{user_id}"))
        except IntegrationError as error:
            if error.status == 404:
                return None
            raise
        assert isinstance(data, dict)
        return _paging_user(str(data["id"]), data.get("name"), str(data.get("email")))

    async def user_by_email(self, email: str) -> PagingUser | None:
        # PagerDuty's `query` matches anywhere in a name or email: li@example.com also finds x.li@example.com and
        # every other. Read on (100 a page) until the exact email, not the first page only (25, PagerDuty's default):
        # someone whose email is inside 25 others was told they had no account (found in review, session 25).
        wanted = email.lower()
        found = await self._call("GET /users", lambda: next((
            user for user in itertools.islice(self.client.iter_all("/users", params={"query": email}), MAX_USERS_READ)
            if str(user.get("email", "")).lower() == wanted), None))
        return _paging_user(str(found["id"]), found.get("name"), str(found["email"])) if found else None

    async def acknowledge(self, incident_id: str, actor_email: str) -> None:
        await self._update(incident_id, actor_email, {"status": "acknowledged"})

    async def resolve(self, incident_id: str, actor_email: str, resolution: str | None) -> None:
        # PagerDuty keeps `resolution` on the incident's Resolve log entry only: "not displayed directly in the UI"
        # (its API reference), in no note list and no webhook. So the note people read, and the one timeline line, is
        # the "Resolution: …" note the resolve adds apart (bot/services/actions.py): said once in each place.
        await self._update(incident_id, actor_email, {"status": "resolved", **(
            {"resolution": resolution} if resolution else {})})

    async def _update(self, incident_id: str, actor_email: str, fields: dict[str, Any]) -> None:
        body = {"incident": {"type": "incident_reference", **fields}}
        await self._call("PUT /incidents/{id}", lambda: self.client.rput(
            f"/incidents/{incident_id}", json=body, headers={"From": actor_email}))

    async def add_note(self, incident_id: str, actor_email: str, content: str) -> None:
        await self._call("POST /incidents/{id}/notes", lambda: self.client.rpost(
            f"/incidents/{incident_id}/notes", json={"note": {"content": content}}, headers={"From": actor_email}))

    async def request_responders(self, incident_id: str, actor: PagingUser, message: str,
                                 targets: Sequence[tuple[str, str]]) -> None:
        body = {"requester_id": actor.id, "message": message, "responder_request_targets": [
            {"responder_request_target": {"id": target_id, "type": f"{kind}_reference"}}
            for kind, target_id in targets]}
        await self._call("POST /incidents/{id}/responder_requests", lambda: self.client.post(
            f"/incidents/{incident_id}/responder_requests", json=body, headers={"From": actor.email}),
            check=True)

    async def escalation_policy_named(self, name: str) -> tuple[str, str] | None:
        if re.fullmatch(r"P[A-Z0-9]{6}", name):  # PagerDuty's ids: the query parameter only matches names
            try:
                policy = await self._call("GET /escalation_policies/{id}", lambda: self.client.rget(
                    f"/escalation_policies/{name}"))
            except IntegrationError as error:
                if error.status != 404:
                    raise
            else:
                assert isinstance(policy, dict)
                return str(policy["id"]), str(policy.get("name") or policy["id"])
        wanted = name.lower()
        # Page after page until the one named (the query matches parts of names: "payments" may match dozens,
        # and the one named exactly may be past the first page).
        found = await self._call("GET /escalation_policies", lambda: next((
            policy for policy in itertools.islice(self.client.iter_all("/escalation_policies", params={"query": name}),
                                                  MAX_POLICIES_READ)
            if wanted in (str(policy.get("id", "")).lower(), str(policy.get("name", "")).lower())), None))
        return (str(found["id"]), str(found.get("name") or found["id"])) if found else None

    async def service_escalation_policy(self, service_id: str) -> str | None:
        try:
            service = await self._call("GET /services/{id}", lambda: self.client.rget(f"/services/{service_id}"))
        except IntegrationError as error:
            if error.status == 404:
                return None
            raise
        assert isinstance(service, dict)
        policy = service.get("escalation_policy") or {}
        return str(policy["id"]) if policy.get("id") else None

    async def oncalls(self, escalation_policy_id: str) -> list[OnCall]:
        # Every page: a policy with many levels and schedules has more entries than one page holds.
        entries = await self._call("GET /oncalls", lambda: self.client.list_all(
            "/oncalls", params={"escalation_policy_ids[]": [escalation_policy_id]}))
        assert isinstance(entries, list)
        found: list[OnCall] = []
        for entry in entries:
            user = entry.get("user") or {}
            found.append(OnCall(user=_paging_user(str(user.get("id")), user.get("summary") or user.get("name"),
                                                  str(user.get("email") or "")),
                escalation_policy=str((entry.get("escalation_policy") or {}).get("summary") or escalation_policy_id),
                level=int(entry.get("escalation_level") or 1)))
        return sorted(found, key=lambda o: o.level)

    async def schedule_entries(self, schedule_id: str, since: datetime, until: datetime) -> list[ShiftEntry]:
        schedule = await self._call("GET /schedules/{id}", lambda: self.client.rget(
            f"/schedules/{schedule_id}", params={"since": since.astimezone(UTC).isoformat(),
                                                 "until": until.astimezone(UTC).isoformat(), "time_zone": "UTC"}))
        assert isinstance(schedule, dict)
        entries = (schedule.get("final_schedule") or {}).get("rendered_schedule_entries") or []
        return [ShiftEntry(start=_instant(e["start"]), end=_instant(e["end"]), user_id=str(e["user"]["id"]),
                           name=str(e["user"].get("summary") or e["user"]["id"])) for e in entries]

    async def incident_by_key(self, incident_key: str, service_ids: Sequence[str]) -> dict[str, Any] | None:
        # Every status, whenever made (date_range=all: PagerDuty lists the last month by default), so that a page
        # already resolved is found rather than made again.
        found = await self._call("GET /incidents", lambda: self.client.rget("/incidents", params={
            "incident_key": incident_key, "service_ids[]": list(service_ids), "date_range": "all",
            "statuses[]": ["triggered", "acknowledged", "resolved"]}))
        assert isinstance(found, list)
        return next((i for i in found if i.get("status") != "resolved"), found[-1] if found else None)

    async def create_incident(self, actor_email: str, title: str, service_id: str, urgency: str,
                              incident_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"incident": {"type": "incident", "title": title, "urgency": urgency,
                                             "service": {"id": service_id, "type": "service_reference"}}}
        if incident_key:
            body["incident"]["incident_key"] = incident_key
        created = await self._call("POST /incidents", lambda: self.client.rpost(
            "/incidents", json=body, headers={"From": actor_email}))
        assert isinstance(created, dict)
        return created

    async def priorities(self) -> list[tuple[str, str]]:
        found = await self._call("GET /priorities", lambda: self.client.rget("/priorities"))
        assert isinstance(found, list)
        return [(str(p["id"]), str(p.get("name") or p.get("summary") or p["id"])) for p in found]

    async def raise_urgency(self, incident_id: str, actor_email: str) -> None:
        await self._update(incident_id, actor_email, {"urgency": "high"})

    async def set_priority(self, incident_id: str, actor_email: str, priority_id: str) -> None:
        await self._update(incident_id, actor_email, {"priority": {"id": priority_id, "type": "priority_reference"}})

    async def publish_status_update(self, incident_id: str, actor_email: str, message: str) -> str:
        published = await self._call("POST /incidents/{id}/status_updates", lambda: self.client.rpost(
            f"/incidents/{incident_id}/status_updates", json={"message": message}, headers={"From": actor_email}))
        return str(published.get("id") or "") if isinstance(published, dict) else ""

    async def close(self) -> None:
        # The client is an httpx Client underneath: close its connection pool.
        await asyncio.get_running_loop().run_in_executor(self._executor, httpx2.Client.close, self.client)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _paging_user(user_id: str, name: Any, email: str) -> PagingUser:
    """A PagerDuty user as its answer gives them (no name: their id), name and email made storable: the bot keeps
    them (bot/services/people.py), and half an emoji or a NUL in a name made every channel opening that invites them
    fail, at every try until it was dead."""
    return PagingUser(id=user_id, name=storable(str(name or user_id)), email=storable(email))


def _seconds(text: str | None) -> float | None:
    """A header's number of seconds, or None when it is not one (a proxy's `1.2.3`, `inf`, a negative)."""
    try:
        seconds = float(text) if text else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86400 else None
