"""Slack's message formatting as HTML for the sandbox page: mrkdwn (bold, italic, strike, code, links, mentions
shown as names, channel links, emoji shortcodes) and Block Kit blocks (header, section with fields and accessory,
context, divider, actions with buttons and their confirm objects, image, rich text, and a modal's input blocks).

Pure functions of the JSON Slack holds and a `Names` lookup; every piece of outside text is HTML-escaped here, once.
Buttons carry what a click needs (`data-action-id`, `data-value`, the confirm object as JSON) for the page's script.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

# The shortcodes people type most; Slack's full list is thousands long, and an unknown code is shown as typed.
EMOJI = {
    "fire": "🔥", "rotating_light": "🚨", "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌",
    "warning": "⚠️", "eyes": "👀", "thumbsup": "👍", "+1": "👍", "thumbsdown": "👎", "-1": "👎", "tada": "🎉",
    "pager": "📟", "bell": "🔔", "pushpin": "📌", "memo": "📝", "hourglass": "⌛", "hourglass_flowing_sand": "⏳",
    "red_circle": "🔴", "large_green_circle": "🟢", "large_yellow_circle": "🟡", "large_orange_circle": "🟠",
    "rocket": "🚀", "sos": "🆘", "ok": "🆗", "bulb": "💡", "moneybag": "💰", "chart_with_upwards_trend": "📈",
    "chart_with_downwards_trend": "📉", "bar_chart": "📊", "wave": "👋", "pray": "🙏", "smile": "😄",
    "slightly_smiling_face": "🙂", "thinking_face": "🤔", "point_right": "👉", "link": "🔗", "lock": "🔒",
    "clock1": "🕐", "calendar": "📆", "telephone_receiver": "📞", "busts_in_silhouette": "👥", "ticket": "🎫",
    "spiral_note_pad": "🗒️", "construction": "🚧",
}
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_MARKUP = re.compile(r"<([^<>]+)>")


@dataclass(frozen=True)
class Names:
    """How ids show: a user id as their name, a channel id as its name (None: not known)."""

    user: Callable[[str], str | None]
    channel: Callable[[str], str | None]


def emoji(text: str) -> str:
    return _SHORTCODE.sub(lambda m: EMOJI.get(m[1], m[0]), text)


def plain(obj: Any) -> str:
    """A text object (plain_text or mrkdwn) as plain, escaped text: what a label or a button's name shows."""
    if not isinstance(obj, dict):
        return html.escape(str(obj or ""))
    text = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        text = html.unescape(_MARKUP.sub(lambda m: m[1].rpartition("|")[2] or m[1], text))
    return html.escape(emoji(text) if obj.get("emoji", True) else text)


def text_object(obj: Any, names: Names) -> str:
    if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text") or ""), names)
    return plain(obj).replace("\n", "<br>")


def mrkdwn(text: str, names: Names) -> str:
    """Slack's mrkdwn as HTML. Text arrives Slack-escaped (&amp; &lt; &gt;); markup is `<…>`."""
    out: list[str] = []
    for i, part in enumerate(_MARKUP.split(text)):
        out.append(_markup(part, names) if i % 2 else _styled(html.escape(html.unescape(part))))
    return "".join(out).replace("\n", "<br>")


def _markup(inner: str, names: Names) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        name = names.user(target[1:]) or label or target[1:]
        return f'<span class="mention">@{html.escape(name)}</span>'
    if target.startswith("#"):
        name = names.channel(target[1:]) or label or target[1:]
        return f'<a class="channel-link" href="#" data-channel="{html.escape(target[1:])}">#{html.escape(name)}</a>'
    if target.startswith("!"):
        special = target[1:].split("^")[0]
        return f'<span class="mention">@{html.escape(label or special)}</span>'
    url = html.unescape(target)
    if not url.startswith(("http://", "https://", "mailto:")):
        return html.escape(f"<{inner}>")
    shown = html.escape(html.unescape(label)) if label else html.escape(url)
    return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{shown}</a>'


def _styled(escaped: str) -> str:
    """Bold, italic, strike, code and emoji on already-escaped text."""
    escaped = re.sub(r"```(.+?)```", lambda m: f"<pre>{m[1]}</pre>", escaped, flags=re.S)
    parts = re.split(r"(<pre>.*?</pre>|`[^`\n]+`)", escaped, flags=re.S)
    styled = []
    for i, part in enumerate(parts):
        if i % 2:
            styled.append(part if part.startswith("<pre>") else f"<code>{part[1:-1]}</code>")
            continue
        part = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])", r"<strong>\1</strong>", part)
        part = re.sub(r"(?<![\w])_(?!\s)([^_\n]+?)_(?![\w])", r"<em>\1</em>", part)
        part = re.sub(r"(?<![\w~])~(?!\s)([^~\n]+?)~(?![\w~])", r"<del>\1</del>", part)
        styled.append(emoji(part))
    return "".join(styled)


def blocks(items: list[JSON], names: Names) -> str:
    return "".join(block(b, names) for b in items if isinstance(b, dict))


def block(b: JSON, names: Names) -> str:
    kind = b.get("type")
    block_id = html.escape(str(b.get("block_id") or ""))
    if kind == "header":
        return f'<div class="bk-header" role="heading" aria-level="3">{plain(b.get("text"))}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        body = f'<div class="bk-text">{text_object(b["text"], names)}</div>' if b.get("text") else ""
        fields = "".join(f'<div class="bk-field">{text_object(f, names)}</div>' for f in b.get("fields") or [])
        if fields:
            body += f'<div class="bk-fields">{fields}</div>'
        accessory = element(b["accessory"], block_id, names) if isinstance(b.get("accessory"), dict) else ""
        return f'<div class="bk-section">{body}{accessory}</div>'
    if kind == "context":
        parts = [element(e, block_id, names) if e.get("type") == "image" else text_object(e, names)
                 for e in b.get("elements") or [] if isinstance(e, dict)]
        return f'<div class="bk-context">{" ".join(parts)}</div>'
    if kind == "actions":
        return ('<div class="bk-actions">'
                + "".join(element(e, block_id, names) for e in b.get("elements") or [] if isinstance(e, dict))
                + "</div>")
    if kind == "image":
        title = f"<figcaption>{plain(b['title'])}</figcaption>" if b.get("title") else ""
        return (f'<figure class="bk-image"><img src="{html.escape(str(b.get("image_url") or ""))}" '
                f'alt="{html.escape(str(b.get("alt_text") or ""))}">{title}</figure>')
    if kind == "rich_text":
        return f'<div class="bk-text">{mrkdwn(_rich_text(b), names)}</div>'
    return ""


def element(e: JSON, block_id: str, names: Names) -> str:
    kind = e.get("type")
    if kind == "button":
        style = html.escape(str(e.get("style") or ""))
        confirm = (f" data-confirm='{html.escape(json.dumps(e['confirm']), quote=True)}'"
                   if isinstance(e.get("confirm"), dict) else "")
        value = f' data-value="{html.escape(str(e["value"]))}"' if "value" in e else ""
        if e.get("url"):
            return (f'<a class="bk-button {style}" href="{html.escape(str(e["url"]))}" target="_blank" '
                    f'rel="noopener">{plain(e.get("text"))}</a>')
        action_id = html.escape(str(e.get("action_id")))
        return (f'<button type="button" class="bk-button {style}" data-action-id="{action_id}"'
                f' data-block-id="{block_id}"{value}{confirm}>{plain(e.get("text"))}</button>')
    if kind == "image":
        return (f'<img class="bk-inline-image" src="{html.escape(str(e.get("image_url") or ""))}" '
                f'alt="{html.escape(str(e.get("alt_text") or ""))}">')
    if kind in ("plain_text", "mrkdwn"):
        return text_object(e, names)
    if isinstance(kind, str) and (kind == "overflow" or kind.endswith("select")):
        placeholder = plain(e.get("placeholder")) or "Choose"
        return f'<span class="bk-unsupported" title="{html.escape(str(kind))}">{placeholder} ▾</span>'
    return ""


def _rich_text(b: JSON) -> str:
    """A rich_text block's words, marked up as mrkdwn (enough to read it)."""
    words: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "text":
                words.append(str(node.get("text") or ""))
            elif kind == "user":
                words.append(f"<@{node.get('user_id')}>")
            elif kind == "channel":
                words.append(f"<#{node.get('channel_id')}>")
            elif kind == "link":
                words.append(f"<{node.get('url')}|{node.get('text') or node.get('url')}>")
            elif kind == "emoji":
                words.append(f":{node.get('name')}:")
            for child in node.get("elements") or []:
                walk(child)
    walk(b)
    return "".join(words)
