"""What the sandbox page reads of the sandbox's world (`sandbox.world.Sandbox` is one): its emulators, clock, faults
and catalogue. A Protocol, so that the page does not import the world that serves it."""

from __future__ import annotations

from typing import Protocol

from bot.adapters.clock import SettableClock
from bot.catalogue import Catalogue
from sandbox.faults import Faults
from sandbox.pagerduty.emulator import PagerDutyEmulator
from sandbox.servicenow.emulator import ServiceNowEmulator
from sandbox.slack.emulator import SlackEmulator
from sandbox.slack.model import Channel


class World(Protocol):
    catalogue: Catalogue
    clock: SettableClock
    faults: Faults
    slack: SlackEmulator
    pagerduty: PagerDutyEmulator
    servicenow: ServiceNowEmulator

    def slack_channel_for(self, html_url: str) -> Channel | None: ...
