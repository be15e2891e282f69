"""Parsing `/incident` text into what the person asked for. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.slack_text import blank, readable, visible
from bot.errors import UserError
from bot.render.format import clip, escape

# An incident as people name it: its PagerDuty number, or its id as PagerDuty writes it — upper-case letters and
# digits starting with a letter (7 long in PagerDuty's older ids, 14 in its newer ones and the sandbox's; 6 to 20
# leaves room) — or such an id typed in lower case, which a digit tells from a word. Never a word of letters alone in
# lower case: `/incident resolve database is back` names no incident "database".
_REF = re.compile(r"^#?([0-9]+|[A-Z][A-Z0-9]{5,19}|(?=[A-Za-z0-9]*[0-9])[A-Za-z][A-Za-z0-9]{5,19})$")


@dataclass(frozen=True)
class Request:
    subcommand: str
    ref: str | None      # an incident number or id given explicitly
    text: str            # the rest: a note, a message, a title


def split_subcommand(text: str) -> tuple[str, str]:
    """`"resolve  fixed the DB"` → `("resolve", "fixed the DB")`; empty text means help. Any whitespace (a newline,
    a non-breaking space) separates the subcommand."""
    parts = text.strip().split(maxsplit=1)
    while parts and not visible(parts[0]):  # a "word" of invisible characters alone (a pasted zero-width space)
        parts = parts[1].split(maxsplit=1) if len(parts) > 1 else []
    name = visible(parts[0]).lower() if parts else ""
    return (name or "help"), (parts[1].strip() if len(parts) > 1 else "")


def take_ref(rest: str, in_incident_channel: bool, *, text_follows: bool, words_follow: bool = False,
             subcommand: str = "<subcommand>") -> tuple[str | None, str]:
    """Outside an incident channel the first word must be the incident (number or id). Inside one, a first word
    that looks like an incident reference is taken as one only where no free text follows (ack, status...); any
    other words there are the person's aside (`/incident ack on it`), and the channel's incident is meant.
    `words_follow`: what follows is someone's words (an update, a note): outside a channel, a bare number before them
    could be the incident or their start (`/incident update 500 errors halved`), so only `#500` or an id names it."""
    parts = rest.split(maxsplit=1)
    while parts and not visible(parts[0]):  # a "word" of invisible characters alone, as `split_subcommand` skips
        parts = parts[1].split(maxsplit=1) if len(parts) > 1 else []
    first, remainder = (visible(parts[0]) if parts else ""), (parts[1] if len(parts) > 1 else "")
    if blank(remainder):  # zero-width spaces, word joiners, a byte-order mark after the number: nothing follows it
        remainder = ""
    looks_like_ref = bool(_REF.match(first.strip()))
    # ASCII digits only, as `_REF` reads a number ("²" or "١٢" is no incident, `#` or not), and words that are
    # visible (a pasted zero-width space after the number is no start of anything).
    if not in_incident_channel and words_follow and first.isascii() and first.isdigit() and remainder:
        raise UserError(f"`{shown(first)}` could be incident #{shown(first)} or the start of what you wrote, so "
                        "nothing was sent. Outside an incident channel, a number followed by words names the incident "
                        f"only with `#`: `/incident {subcommand} #{shown(first)} …` — or, if the number is part of "
                        f"the words, name the incident first (`/incident {subcommand} #1234 {shown(first)} …`) or "
                        "run the command in the incident's channel.")
    # Inside a channel, `#1234` always names another incident; a bare number is one where no text follows — or where
    # it is all there is (`/incident resolve 2` in #inc-1 means #2: as a resolution note, "2" says nothing; a lone
    # word like MITIGATED, which could be an id, stays the note).
    if looks_like_ref and (not in_incident_channel or not text_follows or first.startswith("#")
                           or (first.isdigit() and not remainder)):
        return first.lstrip("#"), remainder.strip()
    if in_incident_channel or not first:
        return None, rest if in_incident_channel and not blank(rest) else ""
    example = f"`/incident {subcommand} 1234{' …' if text_follows else ''}`"
    raise UserError(f"`{shown(first)}` is not an incident number or id. Outside an incident channel, name the "
                    f"incident first, by its PagerDuty number or id: {example}.")


def incident_named(rest: str) -> str:
    """The first word of what follows a subcommand when it could name an incident (`#1234`, `1234`, `PT4KHLK`), else
    "": for a log line written before the command has looked the incident up."""
    words = rest.split(maxsplit=1)
    first = visible(words[0]) if words else ""
    return first.lstrip("#") if _REF.match(first) else ""


_FLAG = re.compile(r"(?:^|\s)--(service|urgency)(?:(?:\s+|=)(\"[^\"]*\"|“[^”]*”|[^\s-]\S*))?")


def parse_declare(text: str) -> tuple[str, str | None, str]:
    """`Checkout can't take payments --service checkout --urgency low` → (title, service, urgency). The title is
    everything that is not a flag (apostrophes and all); a flag's value may be quoted: `--service "Basket API"`."""
    text = text.replace("\u2014", "--").replace("\u2013", "--")  # phones turn "--" into a dash
    values: dict[str, str] = {}
    for match in _FLAG.finditer(text):
        if match.group(2) is None:
            example = "checkout" if match.group(1) == "service" else "low"
            raise UserError(f"`--{match.group(1)}` needs a value, e.g. `--{match.group(1)} {example}`.")
        value = match.group(2).strip('"“”')
        if values.get(match.group(1), value) != value:  # which one was meant cannot be guessed: ask
            raise UserError(f"`--{match.group(1)}` is given twice (`{shown(values[match.group(1)])}` and "
                            f"`{shown(value)}`): give it once.")
        values[match.group(1)] = value
    title = " ".join(_FLAG.sub(" ", text).split())
    return title, values.get("service"), values.get("urgency", "high").lower()


def split_target(text: str) -> tuple[str, str]:
    """`"Incident managers" need a decision` → ("Incident managers", "need a decision"); unquoted, the first word."""
    text = text.strip()
    for opening, closing in (('"', '"'), ("“", "”")):
        if text.startswith(opening):
            end = text.find(closing, 1)
            if end > 0:
                return text[1:end].strip(), text[end + 1:].strip()
    words = text.split(maxsplit=1)  # any whitespace ends the target: a newline after it too
    return (words[0] if words else ""), (words[1].strip() if len(words) > 1 else "")


def shown(typed: str, limit: int = 100) -> str:
    """What someone typed, shown back inside `code`: readable (bot/domain/slack_text.py), short, escaped again, and
    with no backtick to end the code early."""
    return escape(clip(" ".join(readable(typed).split()), limit)).replace("`", "'")
