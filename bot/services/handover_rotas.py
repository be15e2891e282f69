"""The rotas handovers go by: the catalogue's (at start-up, and as each reload of the catalogue leaves them), with
each one's handover times and the services it covers; and a rota found by what someone typed or by their channel.

A rota a reload removes (or renames) while its handover post waits in the outbox is still known for that post: its
shift changed while it was in the catalogue, and the post is news to the channel it was queued for. A rota retired
so drives no handover of its own, is offered to nobody, and is forgotten when the process ends. A post queued for a
rota no catalogue of this process has is let go (its ledger row settled as such) with the operators' alert said here.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import time

from bot.catalogue import Catalogue, Rota
from bot.domain.effects import OPERATORS, AlertOperators
from bot.domain.handover import HandoverTimes
from bot.errors import UserError
from bot.ports.handover_ledger import HandoverRow
from bot.render.format import clip, escape
from bot.services.calculator import service_coverage


class HandoverRotas:
    def __init__(self, catalogue: Catalogue) -> None:
        self._retired: dict[str, tuple[Rota, set[str]]] = {}
        self.catalogue = catalogue
        self.times: dict[str, HandoverTimes] = {}
        self.covered: dict[str, set[str]] = {}
        self.use(catalogue)

    def use(self, catalogue: Catalogue) -> None:
        """Hand over by this catalogue's rotas from now on; those it drops stay known for the posts they queued."""
        kept = {r.id for r in catalogue.rotas}
        for rota in self.catalogue.rotas:
            if rota.id not in kept:
                self._retired[rota.id] = (rota, self.covered.get(rota.id, set()))
        for rota_id in kept:
            self._retired.pop(rota_id, None)
        self.catalogue = catalogue
        everyone = [*catalogue.rotas, *(rota for rota, _ in self._retired.values())]
        self.times = {r.id: HandoverTimes(tuple(r.handovers), r.time_zone) for r in everyone}
        self.covered = {**{rota_id: covered for rota_id, (_, covered) in self._retired.items()},
                        **_covered_services(catalogue)}

    @property
    def rotas(self) -> Sequence[Rota]:
        """The catalogue's rotas: those that hand over."""
        return self.catalogue.rotas

    def for_post(self, rota_id: str) -> tuple[Rota | None, bool]:
        """The rota a queued post (or its follow-up) is for, and whether a reload has retired it since; None when no
        catalogue this process read has it (it was removed before a restart)."""
        if (rota := self.catalogue.rota(rota_id)) is not None:
            return rota, False
        retired = self._retired.get(rota_id)
        return (retired[0], True) if retired is not None else (None, False)

    def named(self, rota_id: str) -> Rota:
        rota = self.catalogue.rota(rota_id)
        if rota is None:
            raise UserError(f"I don't know the rota `{rota_id}`. Rotas: {_listing(self.rotas)}.")
        return rota

    def find_rota(self, name: str) -> Rota | None:
        wanted = name.strip().lower()
        return next((r for r in self.rotas if wanted in (r.id.lower(), r.name.lower())), None)

    def rota_for(self, name: str, channel_name: str | None, *, usage: str = "handover") -> Rota:
        """The rota named (id or name), or else the one whose channel this is; a clear error otherwise."""
        rotas = self.rotas
        if not rotas:
            raise UserError("No rotas are configured: add them under `rotas:` in the catalogue (see the README).")
        if name.strip():
            found = self.find_rota(name)
            if found is None:
                close = difflib.get_close_matches(name.strip().lower(), [r.id for r in rotas], n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                # As typed (Slack sends it escaped), escaped again, short: never a mention of the sender's making.
                readable = " ".join(name.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())
                shown = escape(clip(readable, 100)).replace("`", "'")
                raise UserError(f"I don't know the rota `{shown}`.{hint} Rotas: {_listing(rotas)}.")
            return found
        here = self.rotas_of_channel(channel_name)
        if len(here) == 1:
            return here[0]
        example = f"/incident {usage} {(here or rotas)[0].id}" + (" <text>" if usage == "handover-note" else "")
        raise UserError("Which rota? " + ("This channel has several: " if here else "") +
                        f"name it after the command, e.g. `{example}`. Rotas: {_listing(here or rotas)}.")

    def rotas_of_channel(self, channel_name: str | None) -> list[Rota]:
        name = (channel_name or "").lstrip("#")
        return [r for r in self.rotas if name and r.slack_channel.lstrip("#") == name]


def _covered_services(catalogue: Catalogue) -> dict[str, set[str]]:
    """Per rota, the PagerDuty ids of the services it covers by the calculator's coverage (a product-domain rota
    covers only the services whose band puts the domain on call, not every service of the domain); a service with no
    declared exposure (no band) is covered by its team's rotas."""
    covered: dict[str, set[str]] = {r.id: set() for r in catalogue.rotas}
    by_id = {s.id: s for s in catalogue.services}
    for row in service_coverage(catalogue):
        for rota_id in {row.working_hours.rota, row.out_of_hours.rota} - {None}:
            covered.setdefault(str(rota_id), set()).add(by_id[row.service.id].pagerduty_service_id)
    for service in catalogue.services:
        if service.exposure is None:
            for rota in catalogue.rotas:
                if rota.team == service.team:
                    covered[rota.id].add(service.pagerduty_service_id)
    return covered


def rota_gone_alert(row: HandoverRow) -> AlertOperators:
    """The operators told of a post queued for a rota no catalogue of this process has (removed or renamed before a
    restart): its channel and schedule are unknown, so the shift change went unannounced."""
    return AlertOperators(OPERATORS, (
        f"⚠️ The handover of rota `{escape(row.rota_id)}` for its shift change at {row.boundary:%a %d %b %H:%M} "
        "UTC was not posted: the rota is no longer in the catalogue (removed or renamed before the bot restarted), "
        "so its channel and PagerDuty schedule are unknown. If that shift still needs a handover, post it by hand "
        "(`/incident handover <rota> post` for a rota the catalogue has); if the rota was removed by mistake, put "
        "it back and reload the catalogue."))


def working_hours(rota: Rota) -> tuple[time, time]:
    return time.fromisoformat(rota.working_hours[0]), time.fromisoformat(rota.working_hours[1])


def _listing(rotas: Sequence[Rota]) -> str:
    return ", ".join(f"`{r.id}` ({r.name}, #{r.slack_channel.lstrip('#')})" for r in rotas)
