"""Parsing `/incident` text into what the person asked for. Pure functions."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from bot.errors import UserError

_REF = re.compile(r"^#?(\d+|[A-Z0-9]{6,20})$")


@dataclass(frozen=True)
class Request:
    subcommand: str
    ref: str | None      # an incident number or id given explicitly
    text: str            # the rest: a note, a message, a title


def split_subcommand(text: str) -> tuple[str, str]:
    """`"resolve  fixed the DB"` → `("resolve", "fixed the DB")`; empty text means help."""
    head, _, rest = text.strip().partition(" ")
    return (head.lower() or "help"), rest.strip()


def take_ref(rest: str, in_incident_channel: bool, *, text_follows: bool) -> tuple[str | None, str]:
    """Outside an incident channel the first word must be the incident (number or id). Inside one, a first word
    that looks like an incident reference is taken as one only where no free text follows (ack, status...)."""
    first, _, remainder = rest.partition(" ")
    looks_like_ref = bool(_REF.match(first.strip()))
    if not in_incident_channel:
        if not first:
            return None, ""
        if not looks_like_ref:
            raise UserError(f"`{first}` is not an incident number. Outside an incident channel, say which incident: "
                            "`/incident <subcommand> <number> …`, e.g. `/incident ack 1234`.")
        return first.lstrip("#"), remainder.strip()
    if looks_like_ref and not text_follows:
        return first.lstrip("#"), remainder.strip()
    return None, rest


def parse_declare(text: str) -> tuple[str, str | None, str]:
    """`Checkout returns 500s --service checkout --urgency low` → (title, service, urgency)."""
    try:
        words = shlex.split(text.replace("“", '"').replace("”", '"'))
    except ValueError as error:
        raise UserError(f"I couldn't read that ({error}). Usage: `/incident new <title> [--service S] "
                        "[--urgency high|low]`.") from None
    title: list[str] = []
    service: str | None = None
    urgency = "high"
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("--service", "--urgency"):
            if i + 1 >= len(words):
                example = "checkout" if word == "--service" else "low"
                raise UserError(f"`{word}` needs a value, e.g. `{word} {example}`.")
            if word == "--service":
                service = words[i + 1]
            else:
                urgency = words[i + 1].lower()
            i += 2
            continue
        title.append(word)
        i += 1
    return " ".join(title), service, urgency
