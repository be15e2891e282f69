"""The sandbox Slack as one person sees it, as HTML: the sidebar of channels, a channel's messages (Block Kit,
threads, pins, edits, files, ephemeral messages for this person only), the message box, and the modal open for them.

Reads the Slack emulator's workspace; changes nothing (the page's script acts through the emulator's control routes,
the same ones the README documents). Formatting is `blockkit.py`'s.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from sandbox.slack.model import JSON, Channel, Message, SlackUser, View
from sandbox.slack.workspace import SlackWorkspace
from sandbox.ui.blockkit import Names, blocks, mrkdwn, plain

e = html.escape


def names(slack: SlackWorkspace) -> Names:
    def user(user_id: str) -> str | None:
        account = slack.account(user_id)
        return account.real_name if account else None

    def channel(channel_id: str) -> str | None:
        found = slack.channels.get(channel_id)
        return found.name if found else None

    return Names(user=user, channel=channel)


def default_person(slack: SlackWorkspace, pagerduty_emails: set[str]) -> SlackUser | None:
    """The first person with both a Slack and a PagerDuty account: someone who can act on incidents."""
    people = list(slack.users.values())
    return next((u for u in people if (u.email or "").lower() in pagerduty_emails), people[0] if people else None)


def channels_for(slack: SlackWorkspace, person: SlackUser) -> list[Channel]:
    """What the person's sidebar lists: every public channel (the sandbox shows the whole workspace), the private
    channels and direct messages they are in; incident channels first, newest first."""
    shown = [c for c in slack.channels.values() if not c.is_archived
             and (not (c.is_private or c.is_im) or person.id in c.members)]
    incidents = sorted((c for c in shown if c.name.startswith("inc-")), key=lambda c: (-c.created, c.name))
    others = sorted((c for c in shown if not c.name.startswith("inc-")), key=lambda c: (c.is_im, c.name))
    return incidents + others


def visible(message: Message, person: SlackUser) -> bool:
    return message.ephemeral_to in (None, person.id)


def latest_ts(channel: Channel, person: SlackUser) -> str:
    return max((m.ts for m in channel.messages.values() if visible(m, person)), default="0")


def channel_label(slack: SlackWorkspace, channel: Channel, person: SlackUser) -> str:
    if channel.is_im:
        other = next((slack.account(m) for m in channel.members if m != person.id), None)
        return other.real_name if other else channel.name
    return ("🔒 " if channel.is_private else "#") + channel.name


def sidebar(slack: SlackWorkspace, person: SlackUser, selected: Channel | None) -> str:
    items = []
    for channel in channels_for(slack, person):
        current = ' aria-current="page"' if selected is not None and channel.id == selected.id else ""
        items.append(f'<li><a href="?channel={e(channel.id)}" data-channel="{e(channel.id)}" '
                     f'data-latest="{latest_ts(channel, person)}"{current}>'
                     f'{e(channel_label(slack, channel, person))}</a></li>')
    return f'<nav aria-label="Channels"><h2>Channels</h2><ul class="channels">{"".join(items)}</ul></nav>'


def channel_pane(slack: SlackWorkspace, person: SlackUser, channel: Channel | None) -> str:
    if channel is None:
        return '<section class="channel" aria-label="No channel"><p>No channel yet.</p></section>'
    lookup = names(slack)
    pinned = {p.ts for p in channel.pins}
    shown = sorted((m for m in channel.messages.values() if visible(m, person)), key=lambda m: m.ts)
    replies: dict[str, list[Message]] = {}
    for m in shown:
        if m.thread_ts and m.thread_ts != m.ts:
            replies.setdefault(m.thread_ts, []).append(m)
    top = [m for m in shown if not m.thread_ts or m.thread_ts == m.ts or m.thread_ts not in channel.messages]
    rendered = []
    for m in top:
        thread = replies.get(m.ts, [])
        inner = "".join(message_html(slack, r, person, pinned) for r in thread)
        thread_html = (f'<details class="thread"><summary>{len(thread)} '
                       f'{"reply" if len(thread) == 1 else "replies"}</summary>{inner}</details>' if thread else "")
        rendered.append(message_html(slack, m, person, pinned, thread_html))
    label = channel_label(slack, channel, person)
    topic = f'<p class="topic">{mrkdwn(channel.topic, lookup)}</p>' if channel.topic else ""
    return (f'<section class="channel" data-channel="{e(channel.id)}" aria-label="{e(label)}">'
            f'<header><h2>{e(label)}</h2>{topic}</header>'
            f'<div class="messages" role="log" aria-label="Messages in {e(label)}">{"".join(rendered)}</div>'
            f'</section>')


def message_html(slack: SlackWorkspace, m: Message, person: SlackUser, pinned: set[str], thread: str = "") -> str:
    lookup = names(slack)
    author = slack.account(m.user)
    name = author.real_name if author else m.user
    marks = []
    if m.bot_id:
        marks.append('<span class="tag">APP</span>')
    when = datetime.fromtimestamp(float(m.ts), UTC).strftime("%H:%M")
    marks.append(f'<time datetime="{datetime.fromtimestamp(float(m.ts), UTC).isoformat()}">{when}</time>')
    if m.ts in pinned:
        marks.append('<span class="mark pinned">📌 Pinned</span>')
    if m.edited:
        marks.append('<span class="mark edited">(edited)</span>')
    if m.ephemeral_to:
        marks.append('<span class="mark ephemeral">Only visible to you</span>')
    body = blocks(m.blocks, lookup) if m.blocks else f'<div class="bk-text">{mrkdwn(m.text, lookup)}</div>'
    files = "".join(_file(f) for f in m.files)
    return (f'<article class="message{" ephemeral" if m.ephemeral_to else ""}" data-ts="{e(m.ts)}" '
            f'aria-label="{e(name)} at {when}"><div class="meta"><strong>{e(name)}</strong> {" ".join(marks)}</div>'
            f'{body}{files}{thread}</article>')


def _file(f: JSON) -> str:
    url = f"/sandbox/slack/files/{e(str(f.get('id')))}"
    title = e(str(f.get("title") or f.get("name") or "file"))
    if str(f.get("mimetype") or "").startswith("image/"):
        alt = e(str(f.get("alt_txt") or f.get("title") or f.get("name") or ""))
        return (f'<figure class="file"><a href="{url}" target="_blank"><img src="{url}" alt="{alt}"></a>'
                f'<figcaption>{title}</figcaption></figure>')
    return f'<p class="file">📎 <a href="{url}" download>{title}</a></p>'


def top_view(slack: SlackWorkspace, person: SlackUser) -> View | None:
    """The modal the person sees: the top of their most recent open stack."""
    return next((v for v in reversed(slack.views.values()) if v.user_id == person.id and v.is_open), None)


def modal(slack: SlackWorkspace, view: View | None) -> str:
    if view is None:
        return ""
    lookup = names(slack)
    d = view.definition
    errors = view.errors or {}
    parts = []
    for b in d.get("blocks") or []:
        if b.get("type") == "input":
            parts.append(_input(slack, b, view.values.get(b["block_id"], {}), errors.get(b["block_id"])))
        else:
            parts.append(blocks([b], lookup))
    submit = plain(d.get("submit")) or "Submit"
    close = plain(d.get("close")) or "Cancel"
    return (f'<div class="overlay"><form class="modal" role="dialog" aria-modal="true" aria-labelledby="modal-title"'
            f' data-view-id="{e(view.id)}"><h2 id="modal-title">{plain(d.get("title"))}</h2>'
            f'{"".join(parts)}<p class="form-status" role="status"></p>'
            f'<div class="modal-buttons"><button type="button" class="close-view">{close}</button>'
            f'<button type="submit" class="primary">{submit}</button></div></form></div>')


def _input(slack: SlackWorkspace, b: JSON, state: JSON, error: Any) -> str:
    block_id, element = str(b["block_id"]), b.get("element") or {}
    action_id, kind = str(element.get("action_id") or ""), str(element.get("type") or "")
    control_id = f"input-{block_id}"
    current: JSON = next(iter(state.values()), {}) if state else {}
    value = current.get("value") if isinstance(current, dict) else None
    described = f' aria-describedby="error-{e(block_id)}" aria-invalid="true"' if error else ""
    required = "" if b.get("optional") else " required"
    attrs = (f'id="{e(control_id)}" name="{e(block_id)}" data-action-id="{e(action_id)}"{required}{described}')
    placeholder = f' placeholder="{plain(element.get("placeholder"))}"' if element.get("placeholder") else ""
    if kind == "plain_text_input" and element.get("multiline"):
        limit = f' maxlength="{int(element["max_length"])}"' if element.get("max_length") else ""
        control = f'<textarea {attrs}{placeholder}{limit} rows="4">{e(str(value or ""))}</textarea>'
    elif kind in ("static_select", "radio_buttons"):
        options = list(element.get("options") or [])
        for group in element.get("option_groups") or []:
            options += group.get("options") or []
        chosen = (current.get("selected_option") or {}).get("value") if isinstance(current, dict) else None
        rendered = "".join(f'<option value="{e(str(o.get("value")))}"{" selected" if o.get("value") == chosen else ""}>'
                           f'{plain(o.get("text"))}</option>' for o in options)
        control = f'<select {attrs}><option value=""></option>{rendered}</select>'
    elif kind == "users_select":
        rendered = "".join(f'<option value="{e(u.id)}">{e(u.real_name)}</option>' for u in slack.users.values())
        control = f'<select {attrs}><option value=""></option>{rendered}</select>'
    else:
        kind_attr = {"number_input": "number", "email_text_input": "email", "url_text_input": "url",
                     "datepicker": "date", "timepicker": "time"}.get(kind, "text")
        control = f'<input type="{kind_attr}" {attrs}{placeholder} value="{e(str(value or ""))}">'
    hint = f'<p class="hint">{plain(b["hint"])}</p>' if b.get("hint") else ""
    shown_error = f'<p class="error" id="error-{e(block_id)}">{e(str(error))}</p>' if error else ""
    return (f'<div class="input"><label for="{e(control_id)}">{plain(b.get("label"))}</label>{control}{hint}'
            f'{shown_error}</div>')
