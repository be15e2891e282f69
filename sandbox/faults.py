"""Injected faults for the sandbox emulators: "make this method fail N times with status S", and added latency.

Set through `POST /sandbox/faults` (see README) and consulted by each emulator before it answers a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

# What a request sets (its JSON body, or Slack's arguments), for rules `with_field`: None when no rule asks.
Fields: TypeAlias = "Mapping[str, object] | None"
SERVICES = ("slack", "pagerduty", "servicenow")  # what a fault may name: the emulators that consult faults


@dataclass
class Fault:
    """One rule: `service` is "slack", "pagerduty" or "servicenow"; `method` a Slack method name
    (e.g. "chat.postMessage"), a PagerDuty/ServiceNow path prefix (e.g. "/incidents"), or "*" for all. It fails
    `times` calls, or — with `until` — every call until then on the sandbox's clock (an outage of some minutes)."""

    service: str
    method: str = "*"
    status: int = 500
    times: int = 1
    latency_ms: int = 0
    retry_after: int = 1
    # Fail every matching call until this time (sandbox clock, epoch seconds) instead of `times` calls.
    until: float | None = None
    # The call is carried out, then answered with `status`: its answer lost on the way back (a gateway's 502 after
    # the service acted, a timeout) — what makes a retry find its first attempt done. PagerDuty's, Slack's and
    # ServiceNow's Table API.
    after: bool = False
    # Fail only a request whose JSON body sets this field (e.g. "state": ServiceNow refusing a state change, by a
    # data policy, while it takes a work note alone; Slack's "metadata": a card or a timeline line, not an operators'
    # alert). ServiceNow's and Slack's emulators.
    with_field: str = ""
    # ... and only when that field's value, as JSON text, contains this (e.g. "announce:", one marker of Slack's).
    with_text: str = ""
    # The service's own words in its JSON refusal at `status`: Slack's `{"ok": false, "error": error}` (at 200, as Slack
    # answers invalid_auth) instead of an error page; PagerDuty's error `message`; ServiceNow's error `detail`. (Not
    # on PagerDuty's 429, which comes without a body, nor ServiceNow's 401, 404 and 429, which keep their own words.)
    error: str = ""

    def __post_init__(self) -> None:
        if self.with_text and not self.with_field:
            raise ValueError("with_text needs with_field: the field whose value must contain it")

    def matches(self, service: str, method: str, verb: str = "", fields: Fields = None) -> bool:
        """`method` may start with an HTTP verb ("POST /services") to fail only writes to a path, not its reads;
        `fields`: what the request sets (its JSON body's, Slack's arguments)."""
        if self.service != service or not self._sets_field(fields or {}):
            return False
        wanted_verb, _, wanted = self.method.rpartition(" ")
        return (self.method == "*" or method.startswith(wanted)) and wanted_verb in ("", verb.upper())

    def _sets_field(self, fields: Mapping[str, object]) -> bool:
        if not self.with_field:
            return True
        if self.with_field not in fields:
            return False
        return not self.with_text or self.with_text in json.dumps(fields[self.with_field], default=str,
                                                                  ensure_ascii=False)


@dataclass
class Faults:
    """The active fault rules. `latency_ms` per service applies to every request of that service. `held` counts the
    requests now waiting out their latency, by service: a test can see that something happened (the bot's answer to
    Slack) while a slow call was still held; `release_held()` ends those waits at once, as if their latency were
    over, so that a test holds a call exactly as long as it needs to."""

    rules: list[Fault] = field(default_factory=list)
    latency_ms: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    held: Counter[str] = field(default_factory=Counter)
    # Per service: the event `release_held` sets for every wait of that service begun before it.
    _released: dict[str, asyncio.Event] = field(default_factory=dict, init=False, repr=False)

    def add(self, fault: Fault) -> None:
        self.rules.append(fault)

    def clear(self) -> None:
        """No faults any more, for the calls already waiting out a latency too (they answer now, not once it ends)."""
        self.rules.clear()
        self.latency_ms.clear()
        self.release_held()

    async def delay(self, service: str, method: str, verb: str = "", fields: Fields = None) -> None:
        """Sleep for the configured latency of this service (and of a matching latency-only rule: `verb` and
        `fields` as `Fault.matches` takes them, where the service gives them)."""
        ms = self.latency_ms.get(service, 0)
        for rule in self.rules:
            if rule.times == 0 and rule.latency_ms and rule.matches(service, method, verb, fields):
                ms += rule.latency_ms
        if not ms:
            return
        released = self._released.setdefault(service, asyncio.Event())  # the one release_held() sets
        self.held[service] += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ms / 1000):
                    await released.wait()
        finally:
            self.held[service] -= 1

    def release_held(self, service: str | None = None) -> None:
        """End every wait for latency under way now — of `service` only, if given (later requests wait out theirs
        as usual)."""
        for name in [service] if service is not None else list(self._released):
            if (released := self._released.pop(name, None)) is not None:
                released.set()

    def take(self, service: str, method: str, verb: str = "", fields: Fields = None) -> Fault | None:
        """Consume one failure of the first matching rule that has failures left, if any (`fields`: what the
        request sets, for rules `with_field`)."""
        for rule in self.rules:
            if rule.until is not None:
                if self.clock() < rule.until and rule.matches(service, method, verb, fields):
                    return rule
                continue
            if rule.times > 0 and rule.matches(service, method, verb, fields):
                rule.times -= 1
                return rule
        return None

    def spent(self, rule: Fault) -> bool:
        """A rule that will never act again: its failures used up, or its outage over (latency rules stay)."""
        if rule.until is not None:
            return self.clock() >= rule.until
        return rule.times <= 0 and not rule.latency_ms

    def snapshot(self) -> list[dict[str, object]]:
        """The rules still in force; spent ones are dropped as they are listed."""
        self.rules[:] = [rule for rule in self.rules if not self.spent(rule)]
        return [{k: v for k, v in vars(rule).items()} for rule in self.rules]
