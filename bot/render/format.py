"""How figures and text read in Slack (and in the CLI's tables): durations, exposure windows, money, percentages,
local times, and Slack-safe text (escaping, clipping). The one place for them: every render module words its numbers
here, so a duration or a sum of money reads the same wherever it appears. Pure functions.

Durations come in one shape — the two largest units, "2h 05m" — with keywords for where the callers differ (the
card, the report table and the handover post read the same clock differently; each keeps its reading):

    duration(s)                                         45s · 4m 10s · 2h 05m · 3d 4h       (card, replies)
    duration(s, minute_seconds=False)                   45s · 4m     · 2h 05m · 3d 4h       (handover post)
    duration(s, days=False, zero_minutes=True, rounded=True)
                                                        0m 45s · 4m 10s · 2h 05m · 74h 00m  (report table)

`minutes` is the other wording, for a catalogue's exposure windows and the money line: fractional minutes, spoken
("22.5 min", "1 h 30 min"), as people state how long a service can be down.

Text from outside (titles, names, notes, URLs) reaches Slack through `escape` and `link`, never as written: a title
cannot mention @channel, a URL cannot end its link early or lead elsewhere. What may be long is clipped where the
words are chosen, to Slack's limits below, with `clip` (plain text) or `clip_mrkdwn` (markup), ending with where the
whole text is (`full_text_at`: "… (full title in PagerDuty)").
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from bot.render.graphemes import cluster_start

NONE = "—"  # a figure that is not known (yet)
ELLIPSIS = "…"

# What Slack refuses beyond (msg_too_long, invalid_blocks, too_long): the render clips to these where it chooses the
# words, and the Slack adapter clips whatever still overflows as a last guard.
MESSAGE_TEXT = 40_000      # a message's text (chat.postMessage, chat.update, chat.postEphemeral, response URLs)
HEADER_TEXT = 150          # a header block's plain text
SECTION_TEXT = 3_000       # a section block's text
FIELD_TEXT = 2_000         # each of a section's fields
CONTEXT_TEXT = 2_000       # each text element of a context block
BUTTON_TEXT = 75           # a button's label
MESSAGE_BLOCKS = 50        # blocks in one message (a modal holds 100)
HOME_BLOCKS = 100          # blocks in an App Home view
TOPIC_TEXT = 250           # a channel's topic
# How much of an outside text a line shows before pointing to where the whole of it is: a title in a sentence, a
# note or status update on the timeline (a note typed in Slack, up to 4,000 characters, arrives whole). Far above
# anything written for people to read at a glance: only a pasted log is cut.
TITLE_IN_TEXT = 1_000
ENTRY_TEXT = 10_000


def duration(seconds: float | None, *, days: bool = True, minute_seconds: bool = True, zero_minutes: bool = False,
             rounded: bool = False) -> str:
    """A short duration in its two largest units: 45s, 4m 10s, 2h 05m, 3d 4h; "—" for None; never negative.

    `days`: past a day, "3d 4h" (False: the hours keep counting, "74h 00m", so a table's rows compare at a glance).
    `minute_seconds`: under an hour, "4m 10s" (False: "4m"). `zero_minutes`: under a minute, "0m 45s" (aligned with
    the longer ones) rather than "45s". `rounded`: to the nearest second (False: the whole seconds passed, as a
    running clock shows)."""
    if seconds is None:
        return NONE
    whole = max(half_up(seconds) if rounded else int(seconds), 0)
    if whole < 60 and not zero_minutes:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s" if minute_seconds else f"{whole // 60}m"
    if whole < 86400 or not days:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def minutes(value: float) -> str:
    """A span given in minutes, spoken: 45 min, 22.5 min, 4 h, 1 h 30 min."""
    if value < 60:
        return f"{value:g} min"
    hours, rest = divmod(value, 60)
    return f"{hours:.0f} h" + (f" {rest:g} min" if rest else "")


def money(amount: float, currency: str) -> str:
    """£210K, £1.2M, £750 — short, as people say it."""
    if amount >= 999_500:
        return f"{currency}{_trim(amount / 1_000_000)}M"
    if amount >= 1_000:
        return f"{currency}{_trim(amount / 1_000)}K"
    return f"{currency}{amount:.0f}"


def _trim(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or round(value, 1) == round(value) else f"{value:.1f}"


def half_up(value: float) -> int:
    """`value` to the nearest whole number, a half away from zero: 2.5 → 3 and 3.5 → 4, as people round (Python's
    round() takes a half to the even number: 2.5 → 2, 3.5 → 4, so a table's halves went both ways)."""
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent(value: float | None, *, places: int = 3) -> str:
    """`value` percentage points with up to `places` decimals, trailing zeros dropped but one kept: 99.0%, 99.5%,
    99.95% (availability targets). `places=0`: whole percents, -170% (the report's effectiveness). "—" for None."""
    if value is None:
        return NONE
    if places == 0:
        return f"{half_up(value)}%"  # an int, so a small negative figure reads 0%, not -0%
    text = f"{value:.{places}f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + "%"


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as the rota's people read it on their wall clock: "Fri 27 Nov 09:00"."""
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


# C0 and C1 controls but tab, line feed and carriage return; Unicode's bidirectional embeddings, overrides and
# isolates (LRE…RLO, LRI…PDI).
_UNSEEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def escape(text: str) -> str:
    """Slack's three control characters, so a title, name or note cannot inject links, mentions or @channel; a
    lone surrogate (half an emoji, which no JSON encoder can send as UTF-8) shown as U+FFFD; and the characters no
    reader sees but which change what others read — bidirectional overrides and isolates (a U+202E in a title shows
    the rest of the line reversed, so one person could make "resolved" read as something else) and control
    characters other than tab and line breaks — left out."""
    text = _LONE_SURROGATE.sub("\ufffd", _UNSEEN.sub("", text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_BACKTICK_BEFORE_BACKTICK = re.compile("`(?=`)")


def code_block(text: str) -> str:
    """Outside text (a note someone typed) in a code block they can copy it from: escaped, and each run of backticks
    in it (a pasted ``` fence) broken by zero-width spaces, since Slack ends a code block at the first ``` whatever
    follows: the rest would show outside the block, its * and _ taken as bold and italics. What shows is as typed."""
    return "```\n" + _BACKTICK_BEFORE_BACKTICK.sub("`\u200b", escape(text)) + "\n```"


def clip(text: str, limit: int, more: str = "") -> str:
    """At most `limit` characters; a clipped text ends with an ellipsis, so readers know there was more, and then
    `more`: where the whole text is (" (full title in PagerDuty)"). Plain text: cut anywhere but inside what reads as
    one character (an emoji joined by zero-width joiners, a flag, a skin tone, an accent: bot/render/graphemes.py)."""
    if len(text) <= limit:
        return text
    if len(ELLIPSIS) + len(more) >= limit:
        more = ""  # no room to say where: the ellipsis alone
    return (text[: cluster_start(text, limit - len(ELLIPSIS) - len(more))] + ELLIPSIS + more)[:limit]


_OPEN_ENTITY = re.compile(r"&[#a-zA-Z0-9]{0,8}$")


def clip_mrkdwn(text: str, limit: int, more: str = "") -> str:
    """`clip` for Slack markup (escaped text, `<…>` links and mentions): never cut inside an entity (`&amp;`) or a
    link, so what is kept still reads as the render wrote it. `more` may itself be markup (a link)."""
    if len(text) <= limit:
        return text
    kept = text[: cluster_start(text, limit - len(ELLIPSIS) - len(more))]  # never inside an emoji (a ZWJ family)
    opened, closed = kept.rfind("<"), kept.rfind(">")
    if opened > closed:  # inside a link, mention or channel: drop it whole
        kept = kept[:opened]
    kept = _OPEN_ENTITY.sub("", kept)
    if len(kept) + len(ELLIPSIS) + len(more) <= limit:
        return kept + ELLIPSIS + more
    if more:  # no room to say where (a long link): the text alone, still never cut inside an entity or a link
        return clip_mrkdwn(text, limit)
    return (kept + ELLIPSIS)[:limit]  # a limit shorter than the ellipsis itself


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """Slack markup in pieces of at most `limit` characters (a long text over several section blocks, so that none
    of it is clipped): each cut at the last line break or space before the limit, never inside an entity (`&amp;`)
    or a link; no piece blank (Slack refuses an empty section)."""
    pieces: list[str] = []
    while len(text) > limit:
        head = text[:limit]
        opened, closed = head.rfind("<"), head.rfind(">")
        if opened > closed:  # inside a link, mention or channel: it goes whole into the next piece
            head = head[:opened]
        head = _OPEN_ENTITY.sub("", head)
        cut = max(head.rfind("\n"), head.rfind(" "))
        if cut > 0:
            head = head[:cut]
        if not head:  # one link longer than a piece: cut it all the same rather than never end
            head = text[:limit]
        pieces.append(head)
        text = text[len(head):].removeprefix("\n").removeprefix(" ")
    return [piece for piece in (*pieces, text) if piece.strip()] or [text]


_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?")


def web_url(url: str | None) -> str | None:
    """`url` made safe to put in a Slack link, or None: only http(s) URLs with a plain host (no user part, no
    characters a host cannot have) qualify; `|`, `<`, `>`, spaces and other characters Slack would read as markup
    are percent-encoded."""
    if not url or len(url) > 3_000:
        return None
    return _web_url(url)


@functools.lru_cache(maxsize=4096)
def _web_url(url: str) -> str | None:
    """`web_url`, kept for the URLs seen last (a pure function of the URL): every card render links its incident
    and ticket, the same few URLs again and again, and splitting and quoting them is most of a link's cost."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(parts.netloc):
        return None
    return quote(url.strip(), safe="/:?#[]@!$'()*+,;=%&~-._", errors="replace").replace("&", "&amp;")


def link(url: str | None, label: str) -> str:
    """A Slack link reading `label` (markup, already escaped) to `url`; a URL that cannot be a safe link (see
    `web_url`) is shown after the label as code, where Slack makes no link of it."""
    safe = web_url(url)
    if safe is not None:
        return f"<{safe}|{label}>"
    shown = escape(clip(" ".join(url.split()), 200)).replace("`", "'") if url else ""
    return f"{label} `{shown}`" if shown else label


def full_text_at(where: str, url: str | None = None, what: str = "text") -> str:
    """What follows the ellipsis of a clipped text: " (full text in PagerDuty)", linked when `url` can be."""
    safe = web_url(url)
    return f" (full {what} in <{safe}|{where}>)" if safe else f" (full {what} in {where})"
