"""Text people typed in Slack, as people outside Slack read it (a PagerDuty note, a ServiceNow work note).

Slack sends what was typed with its markup: mentions `<@U123>` (a message) or `<@U123|ben>` (a command with
`should_escape`), channels `<#C123|incident-42>`, specials `<!here>` and `<!subteam^S123|@sre>`, links
`<https://x|label>`, and `&`, `<`, `>` escaped as `&amp;`, `&lt;`, `&gt;` (Slack escapes nothing else). `readable`
is the one place that turns it into plain text; the names of the people mentioned are the caller's to find
(bot/services/slack_text.py asks Slack), so this stays pure. Text going back INTO Slack never comes from here
unescaped: bot/render/format.py's `escape` is applied to whatever this returns before Slack sees it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Slack's markup: `<` target, optionally `|` label, `>`; neither holds a `<` or `>` (typed ones arrive escaped).
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_BROADCASTS = ("here", "channel", "everyone")


def mentioned_users(slack_text: str) -> list[str]:
    """The Slack user ids mentioned (`<@U123>`, `<@U123|ben>`), each once, in the order they first appear."""
    found = (match[1][1:] for match in _MARKUP.finditer(slack_text) if match[1].startswith("@"))
    return list(dict.fromkeys(user for user in found if user))


def readable(slack_text: str, names: Mapping[str, str] | None = None) -> str:
    """`slack_text` as people read it: a mention as `@` and the person's name from `names` (user id → name), else
    the label Slack gave (`<@U123|ben>` → `@ben`), else the id (`@U123`); a channel as `#name`; `<!here>` as `@here`
    and a user group as its handle; a link as `label (url)`, or the url alone; Slack's escapes undone. Everything
    between the markup is kept as it is (only unescaped); the names are put in as given."""
    names = names or {}
    pieces: list[str] = []
    end = 0
    for match in _MARKUP.finditer(slack_text):
        pieces.append(unescaped(slack_text[end:match.start()]))
        pieces.append(_shown(unescaped(match[1]), None if match[2] is None else unescaped(match[2]), names))
        end = match.end()
    pieces.append(unescaped(slack_text[end:]))
    return "".join(pieces)


def _shown(target: str, label: str | None, names: Mapping[str, str]) -> str:
    """One piece of Slack's markup in words."""
    if target.startswith("@"):
        user = target[1:]
        return f"@{names[user]}" if names.get(user) else _sigil("@", label or user)
    if target.startswith("#"):
        return _sigil("#", label or target[1:])
    if target.startswith("!"):
        kind, _, rest = target[1:].partition("^")
        if kind in _BROADCASTS:
            return f"@{kind}"
        if kind == "subteam":  # a user group: its handle
            return _sigil("@", label or rest.partition("^")[0] or kind)
        return label or target[1:]  # a date (`<!date^…|fallback>`) and anything newer: Slack's own fallback text
    if label and label != target:
        return label if target == f"mailto:{label}" else f"{label} ({target})"
    return target


def _sigil(sigil: str, name: str) -> str:
    return name if name.startswith(sigil) else f"{sigil}{name}"


def unescaped(text: str) -> str:
    """Slack's escapes undone (`&amp;` → `&`): a name as typed, to look up (a policy called "Search & Discovery")."""
    # `&amp;` last: `&amp;lt;` is a typed "&lt;", not a "<".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def visible(text: str) -> str:
    """`text` without invisible format characters (a zero-width space, a word joiner, a byte-order mark: pasted
    from a runbook page), which are no part of a subcommand or an incident number; unlike spaces, split() keeps
    them."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def blank(text: str) -> bool:
    """Whether `text` says nothing: only spaces and invisible format characters, which `str.strip` leaves. A
    resolution note of zero-width spaces is no note."""
    return not visible(text).strip()
