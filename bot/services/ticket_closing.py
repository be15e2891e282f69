"""What a resolved incident's ServiceNow ticket says of its end: its close code (`servicenow.close_code`, or for an
incident merged away in PagerDuty `servicenow.merged_close_code`, with `parent_incident` the ticket of the incident it
went into, when the bot knows it); its close notes — the resolution note, or for a merge the incident it went into
and that one's ticket; the times to acknowledge and to resolve; the responders; the links — and, for a merge, the
one work note the surviving incident's ticket gets, pointing back at the ticket folded into it.

Convergent on replay: the close notes are the same text however often they are written, and the surviving ticket's
note is looked for in its journal before it is written. A surviving ticket known Closed or Canceled takes no write,
and one refusing it (closed since) is let be: the merged ticket's close notes still point there. A note no ticket can
take — the surviving incident has no ticket and none on its way, or its open ticket refuses the note for good — is
given up, and the operators hear once per merge which tickets to tie by hand.

An instance that refuses to resolve the merged ticket as a duplicate (its choices have no `merged_close_code` and a
data policy or business rule of its own refuses codes not in them — a stock instance stores such a code as an invalid
choice —, or it refuses the `parent_incident` reference) would keep the ticket open for good: it is resolved as any
other then (`servicenow.close_code`, no parent; the close notes still name where the incident went on), and the
operators hear which key to set, once a day per ticket.

Either code the instance's close_code choices lack is set as its equivalent there (close_code_choices.py).
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.alert_text import plain, shown_error
from bot.domain.effects import AlertOperators
from bot.domain.incident import Incident
from bot.domain.ticket_rules import CLOSED
from bot.domain.timeline import MERGED_INTO, RESOLUTION, TimelineEntry, merged_into_id, resolution
from bot.errors import IntegrationError
from bot.ports import Clock, Tickets
from bot.ports.store import Deduplication, Incidents, Outbox, SlackFootprint, TicketRecords, TicketRow
from bot.render.format import ENTRY_TEXT, clip, duration, full_text_at
from bot.render.review import responders
from bot.services.close_code_choices import CloseCodeChoices
from bot.services.ticket_pages import note_once

log = logging.getLogger(__name__)
IN_PAGERDUTY = full_text_at("PagerDuty")
CLOSE_NOTES = 4_000  # the incident table's close_notes length
# How long the operators are remembered to have heard that a ticket could not be resolved as a duplicate.
REFUSED_TOLD_SECONDS = 86_400.0
# How long the operators are remembered to have heard that a merge reached no surviving ticket (its retries come within
# the hour; a merged incident is not merged again).
MERGE_UNTOLD_SECONDS = 30 * 86_400.0


class ClosingStore(Incidents, TicketRecords, Outbox, Deduplication, Protocol):
    """The incident a merge went into, and its ticket; the operators' alert when a duplicate's resolve is refused."""


class Closing:
    def __init__(self, store: ClosingStore, tickets: Tickets, catalogue: Catalogue, clock: Clock) -> None:
        self._store, self._tickets, self._clock = store, tickets, clock
        self._codes = CloseCodeChoices(store, tickets, catalogue, clock)  # the catalogue's, as the instance takes them

    async def resolved(self, incident: Incident, ticket: TicketRow, footprint: SlackFootprint,
                       timeline: list[TimelineEntry]) -> dict[str, str]:
        """The fields that say how the incident ended, for its ticket resolved (or its close notes rewritten): the
        close code and notes, and for a merge into an incident whose ticket the bot knows, `parent_incident` that
        ticket (the desk's own link between a duplicate and the ticket it duplicates; a merge into an incident the
        bot has no ticket for leaves the field as it is — a reference to nothing is refused)."""
        merge = await self._merged_into(timeline)
        codes = await self._codes.codes()
        kept = None
        if merge and merge[2] is not None and merge[2].sys_id != ticket.sys_id:
            # A parent the ticket has already means something else — a follow-on's closed ticket it goes on from,
            # or the desk's own link to a major incident —: kept, and the close notes say so (found in review: the
            # merge wrote over a follow-on's link to its closed ticket).
            now = await self._tickets.get(ticket.sys_id)
            kept = now.parent if now is not None and now.parent not in ("", merge[2].sys_id) else None
        fields = {"close_code": codes.merged_close_code if merge else codes.close_code,
                  "close_notes": self._summary(incident, footprint, timeline, merge,
                                               await self._number(kept) if kept else None)}
        if merge and merge[2] is not None and merge[2].sys_id != ticket.sys_id and kept is None:
            fields["parent_incident"] = merge[2].sys_id
        return fields

    async def _number(self, sys_id: str) -> str:
        """A ticket's number, as the close notes name it (its sys_id should ServiceNow no longer find it)."""
        found = await self._tickets.get(sys_id)
        return found.number if found is not None and found.number else sys_id

    def as_solved(self, fields: dict[str, str], error: IntegrationError) -> dict[str, str] | None:
        """`fields` as an ordinary resolve's (`servicenow.close_code`, no `parent_incident`), if they resolve a merged
        incident's ticket as a duplicate and ServiceNow refused them for good (400, or a 403 of a data policy: a
        closed ticket's 403 refuses the fallback too, and is the caller's as before); else None."""
        codes = self._codes.current  # those `resolved` gave
        refused_for_good = not (error.retryable or error.credentials_refused) and error.status in (400, 403)
        # (A merge's code that is the ordinary one, and no parent to leave out: the fallback would be the same update.)
        same = codes.merged_close_code == codes.close_code and "parent_incident" not in fields
        if not refused_for_good or fields.get("close_code") != codes.merged_close_code or same:
            return None
        return {name: value for name, value in fields.items() if name != "parent_incident"} | {
            "close_code": codes.close_code}

    async def tell_refused(self, incident: Incident, ticket: TicketRow, refused: dict[str, str],
                           error: IntegrationError) -> None:
        """The operators hear that `ticket` was resolved as an ordinary resolve, ServiceNow refusing the duplicate's
        `refused` fields: once a day per ticket (each later line rewriting its close notes is refused again). Claimed
        and queued in one transaction: as two writes (queued, then remembered), a failure between them told it twice."""
        now = self._clock.now().timestamp()
        codes = self._codes.current
        parent = await self._store.ticket_by_sys_id(refused["parent_incident"]) if "parent_incident" in refused \
            else None
        duplicate = f"close code '{codes.merged_close_code}', from `servicenow.merged_close_code`" + (
            f", and parent_incident {parent.number if parent else refused['parent_incident']}" if "parent_incident"
            in refused else "")
        alert = AlertOperators.grouped("servicenow:duplicate-refused", plain(
            f"⚠️ ServiceNow refused to resolve ticket {ticket.number} (PagerDuty incident #{incident.number}, merged "
            f"into another incident) as a duplicate ({duplicate}): ") + shown_error(str(error)) + plain(
            f". It is resolved with close code '{codes.close_code}' (`servicenow.close_code`) instead; its close "
            "notes still name the incident it went on in. If the close code is what was refused, set "
            "`servicenow.merged_close_code` in the platform catalogue to your instance's close code for a duplicate "
            "(one of its incident close_code choices), and correct this ticket's by hand if your reports count "
            "them."))
        await self._store.first_time_then_queue(f"servicenow:duplicate-refused:{ticket.sys_id}", REFUSED_TOLD_SECONDS,
                                                now, alert)

    def _summary(self, incident: Incident, footprint: SlackFootprint, timeline: list[TimelineEntry],
                 merge: tuple[str, str, TicketRow | None] | None, kept_parent: str | None = None) -> str:
        """The close notes, from the incident and its timeline (as the sync read it, once for all it needs).
        `kept_parent`: the number of the parent the merge left in place."""
        said = resolution(timeline)  # the responders' word in PagerDuty, never a desk note holding the same words
        people = ", ".join(responders(incident, timeline)) or "—"
        # Who resolved it ("Resolved by Basket API": the alert cleared, nobody fixed it), or where it was merged into.
        resolve = clip(next((e.text for e in reversed(timeline) if e.kind == "resolved"), "Resolved"), ENTRY_TEXT,
                       IN_PAGERDUTY)
        merged = [resolve + (f" (ServiceNow {merge[2].number})" if merge[2] else "") + "."] if merge else []
        if merge and merge[2] and kept_parent:
            merged.append(f"Parent incident left as {kept_parent} (this ticket follows on from it, or the desk linked "
                          f"it): the merge's ticket is {merge[2].number}.")
        lines = [*merged, f"{RESOLUTION}{clip(said, ENTRY_TEXT, IN_PAGERDUTY)}" if said
                 else "" if merged else f"{resolve} in PagerDuty (no resolution note given).",
                 f"Time to acknowledge: {duration(incident.time_to_acknowledge_seconds)}; "
                 f"time to resolve: {duration(incident.time_to_resolve_seconds)}.",
                 f"Responders: {people}.", f"PagerDuty: {incident.html_url}"]
        if footprint.channel_id:
            lines.append(f"Slack channel: #{footprint.channel_name or footprint.channel_id} "
                         f"{channel_link(footprint)}")
        return clip("\n".join(line for line in lines if line), CLOSE_NOTES)

    async def tell_merged_into(self, incident: Incident, ticket: TicketRow, timeline: list[TimelineEntry]) -> None:
        """The incident's ticket was just resolved: if the incident was merged away, the ticket of the one it went
        into (open to writes) hears of it, once. One the bot is still making (an incident it knows, with no ticket
        yet, its ServiceNow effects still pending: the merge came within moments of its trigger, or ServiceNow is
        slow) is waited for — a retryable error — rather than never told (found in review); an incident the bot
        never heard of has no ticket of the bot's, nor has one whose ServiceNow effects are all done with no ticket
        (its ticket's effect dead, or it was seen before the ServiceNow sync was on): given up at once (found in
        review: the note waited an hour for a ticket that would never be made), the operators told what to do by hand
        — as when the surviving ticket refuses the note for good, unless it is closed (found in review: said in the
        log only, nobody knew the two tickets were left untied)."""
        merge = await self._merged_into(timeline)
        there = merge[2] if merge else None
        if merge and there is None and (survivor := await self._store.incident(merge[1])) is not None:
            if await self._store.pending_in_queue(f"servicenow:{merge[1]}"):
                raise IntegrationError("servicenow", f"incident {incident.id} was merged into incident {merge[1]}, "
                                       "whose ticket is not made yet: its note waits for it", retryable=True,
                                       retry_after=5)
            log.warning("incident %s was merged into incident %s, which has no ServiceNow ticket and none on its way "
                        "(its ticket's effect died: see the operators' channel; or it began before the ServiceNow "
                        "sync was on): ticket %s's close notes name the incident, and no ticket hears of the merge",
                        incident.id, merge[1], ticket.number)
            await self._tell_untold(incident, ticket, f"#{survivor.number}", plain(
                f"PagerDuty incident #{survivor.number} has no ServiceNow ticket of the bot's, and none is being made "
                "(its ticket's effect died — see its alert here — or it began before the ServiceNow sync was on). "
                "When it has one (its next change in PagerDuty makes it, or the desk makes one by hand), add a work "
                f"note there saying ticket {ticket.number} was merged into it, and set {ticket.number}'s parent "
                "incident to it."))
            return
        if there is None or there.state in CLOSED or there.sys_id == ticket.sys_id:
            return
        note = (f"Paved Road: PagerDuty incident #{incident.number} "
                f"\"{clip(incident.title, ENTRY_TEXT, IN_PAGERDUTY)}\" was merged into this incident in PagerDuty. "
                f"Its ServiceNow ticket {ticket.number} is resolved, pointing here; its timeline until the merge is "
                "there.")
        try:
            await note_once(self._tickets, there.sys_id, note, retry=True)
        except IntegrationError as error:
            if error.retryable or error.credentials_refused:
                raise
            log.warning("incident %s was merged into incident %s, whose ticket %s refused the note saying so: %s",
                        incident.id, there.incident_id, there.number, error)
            if (now := await self._tickets.get(there.sys_id)) is not None and now.state in CLOSED:
                return  # closed since: the desk is done with it, and the merged ticket's close notes point there
            survivor = await self._store.incident(there.incident_id)
            await self._tell_untold(incident, ticket, f"#{survivor.number}" if survivor else there.incident_id, plain(
                f"ServiceNow refused the work note on its ticket {there.number} saying so: ") + shown_error(
                str(error)) + plain(f". Add a work note to {there.number} by hand saying ticket {ticket.number} was "
                                    "merged into it (that one has the merged incident's timeline), and check the "
                                    "integration user's write access to it (an ACL, a data policy)."))

    async def _tell_untold(self, incident: Incident, ticket: TicketRow, into: str, why: str) -> None:
        """The operators hear that no ticket was told of the merge of `incident` (its ticket `ticket`, resolved) into
        incident `into` ("#<number>"), `why` (shown as it is: plain text, shown errors) and what to do by hand: once
        per merge (each retry of the merged ticket's sync gives it up again): claimed and queued in one transaction,
        neither lost nor told twice by a crash between them."""
        now = self._clock.now().timestamp()
        await self._store.first_time_then_queue(
            f"servicenow:merge-untold:{incident.id}", MERGE_UNTOLD_SECONDS, now,
            AlertOperators.grouped("servicenow:merge-untold", plain(
                f"⚠️ PagerDuty incident #{incident.number} was merged into incident {into}: "
                f"its ServiceNow ticket {ticket.number} is resolved, its close notes naming where it went on, but no "
                "ticket was told of the merge. ") + why))

    async def _merged_into(self, timeline: list[TimelineEntry]) -> tuple[str, str, TicketRow | None] | None:
        """A resolve that is a merge: its line, the id of the incident it went into ("" if PagerDuty gave none), and
        that incident's ticket (if the bot knows it)."""
        resolve = next((e.text for e in reversed(timeline) if e.kind == "resolved"), "")
        if not resolve.startswith(MERGED_INTO):
            return None
        into = merged_into_id(resolve) or ""
        return resolve, into, await self._store.ticket(into) if into else None


def channel_link(footprint: SlackFootprint) -> str | None:
    """A link to the incident's channel, if it has one: it opens the channel in whichever workspace the reader is
    signed in to (no workspace domain needed)."""
    if footprint.channel_id is None:
        return None
    return f"https://slack.com/app_redirect?channel={footprint.channel_id}"
