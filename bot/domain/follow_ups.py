"""A follow-up: an action item recorded during or after an incident (`/incident followup`), kept on the Incident
so that it reaches the review document and the ServiceNow ticket. Plain data, and how the owner named at the
end of `/incident followup`'s text is read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# An owner mentioned whose name Slack did not give: what the record says of them, with the id Slack knows them by.
UNNAMED_OWNER = "a Slack user Paved Road could not name"


@dataclass(frozen=True)
class FollowUp:
    """Action item `number` (1, 2, … within its incident), who recorded it, and who owns it (a Slack user id and
    name, when one was named)."""

    number: int
    text: str
    added_by: str
    added_at: datetime
    owner_id: str | None = None
    owner_name: str | None = None

    @property
    def owner(self) -> str | None:
        """Who owns it, as text read outside Slack (the review, the timeline, the ticket): their name, else —
        Slack did not name them (no such user, or its lookup failed) — said so, never a bare Slack user id."""
        if self.owner_name or not self.owner_id:
            return self.owner_name
        return f"{UNNAMED_OWNER} ({self.owner_id})"


# `<@U123>` or `<@U123|ben>` (Slack's escaped mention), or a plain `@ben`, ending the follow-up's text. A plain
# `@name` names an owner only as a word of its own (after a space, or as the whole text): at the end of an email
# address ("ask vendor support@acme.com") it is the address's domain, not a person. A sentence's full stop or
# exclamation after it ("… @ben.") is no part of the name; a dot inside one is ("@ben.okafor").
_EVERYONE = ("here", "channel", "everyone")
_OWNER = re.compile(r"\s*(?:<@([UW][A-Z0-9]+)(?:\|([^>]*))?>|(?<!\S)@([\w-]+(?:\.[\w-]+)*)[.!]?)\s*$")


@dataclass(frozen=True)
class NamedOwner:
    """The follow-up's text without the owner named at its end, and that owner: a Slack user id (from a mention)
    and the name as written (a mention's label, or the plain `@name`); both None when no owner ends the text."""

    text: str
    owner_id: str | None
    owner_name: str | None


def named_owner(text: str) -> NamedOwner:
    """`add an alert @ben` → ("add an alert", None, "ben"); `… <@U123|ben>` → ("…", "U123", "ben")."""
    match = _OWNER.search(text)
    if match is None or (match[3] or "").lower() in _EVERYONE:  # `@here` is a broadcast typed as text, no owner
        return NamedOwner(text, None, None)
    return NamedOwner(text[:match.start()], match[1], match[2] or match[3])
