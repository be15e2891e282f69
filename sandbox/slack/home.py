"""The App Home tab: `views.publish` as Slack enforces it, the Home views it keeps per user, and opening the tab.

`views.publish` takes `user_id` and a `view` of type `home` (a JSON object, or its JSON text), optionally with the
`hash` of the view it replaces; it answers the stored view. Slack's errors: `invalid_arguments` (a missing or unknown
user, a view that is not a home view, bad blocks — up to 100 — or fields over their lengths), `hash_conflict` (the
Home changed since that hash), `duplicate_external_id`, `view_too_large` (over 250 KB) and `not_enabled` (the app's
Home tab is off: `home_tab_enabled`).

Control route (sandbox only): `POST /sandbox/slack/home {"user", "tab"?}` (id, name or email; `tab` "home", the
default, or "messages") opens one of the person's app tabs:
Slack sends the bot the `app_home_opened` event (Events API, signed JSON to the Request URL, or an `events_api`
envelope in Socket Mode), with the Home view already published for them, if any. It answers {"type", "status"}
once the bot has settled (409 when the app does not subscribe to the event; 502 when it did not get there); `GET
/sandbox/state` lists the views under `slack.home_views`, by user id. The event goes out as a person's message's
events do: person.py's `subscribed` (the workspace's `bot_events`) and `deliver_events`.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

from aiohttp import web

from sandbox.slack.blocks import block_errors, normalised_blocks
from sandbox.slack.model import JSON, Args, SlackApiFailure, View, missing
from sandbox.slack.person import deliver_events, json_body, subscribed
from sandbox.slack.workspace import SlackWorkspace

MOST_BYTES = 250 * 1024
_LIMITS = (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255))


class HomeTabs:
    def __init__(self, slack: SlackWorkspace) -> None:
        self._slack = slack
        self.enabled = True  # the app manifest's features.app_home.home_tab_enabled
        self.views: dict[str, View] = {}  # by Slack user id

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sandbox/slack/home", self._open_home)

    def snapshot(self) -> dict[str, JSON]:
        slack = self._slack
        return {user: {**slack.view_api(view), "user": user} for user, view in self.views.items()}

    # ----- views.publish ------------------------------------------------------------------------------------------

    def publish(self, args: Args) -> JSON:
        user_id = args.text("user_id")
        if not user_id:
            raise missing("user_id")
        user = self._slack.users.get(user_id)
        if user is None or user.is_bot:
            raise SlackApiFailure("invalid_arguments",
                                  response_metadata={"messages": ["[ERROR] invalid user_id [json-pointer:/user_id]"]})
        definition = args.structure("view", "invalid_arguments")
        if definition is None:
            raise missing("view")
        if len(json.dumps(definition).encode()) > MOST_BYTES:
            raise SlackApiFailure("view_too_large")
        errors = _home_errors(definition)
        if errors:
            raise SlackApiFailure("invalid_arguments", response_metadata={"messages": errors})
        assert isinstance(definition, dict)
        if not self.enabled:
            raise SlackApiFailure("not_enabled")
        current = self.views.get(user_id)
        expected = args.text("hash")
        if expected and (current is None or expected != current.hash):
            raise SlackApiFailure("hash_conflict")
        external_id = definition.get("external_id")
        if external_id and any(v.definition.get("external_id") == external_id for u, v in self.views.items()
                               if u != user_id):
            raise SlackApiFailure("duplicate_external_id")
        stored = {**copy.deepcopy(definition), "blocks": normalised_blocks(definition["blocks"])}
        view_id = current.id if current else "V" + secrets.token_hex(5).upper()
        view = View(id=view_id, user_id=user_id, definition=stored,
                    hash=f"{int(self._slack.clock())}.{secrets.token_hex(4)}", root_view_id=view_id)
        self.views[user_id] = view
        return {"view": self._slack.view_api(view)}

    # ----- opening the Home tab -----------------------------------------------------------------------------------

    async def _open_home(self, request: web.Request) -> web.Response:
        slack = self._slack
        slack.touch()
        data = await json_body(request)
        if data is None:
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        user = slack.resolve_user(str(data.get("user") or ""))
        if user is None or user.is_bot:
            return web.json_response({"error": f"no Slack user {data.get('user')!r}: use a sandbox person's id, "
                                               "name or email"}, status=404)
        tab = data.get("tab", "home")
        if tab not in ("home", "messages"):
            return web.json_response({"error": "tab is \"home\" or \"messages\""}, status=400)
        event: JSON = {"type": "app_home_opened", "user": user.id, "channel": slack.im_with(user).id, "tab": tab,
                       "event_ts": slack.next_ts()}
        published = self.views.get(user.id)
        if published is not None:
            event["view"] = slack.view_api(published)
        events = subscribed(slack, [("app_home_opened", event)])
        if not events:  # the one event this route is for: say so rather than answer with nothing sent
            return web.json_response({"error": "the app is not subscribed to app_home_opened"}, status=409)
        [delivered] = await deliver_events(slack, events)
        return web.json_response(delivered, status=502 if delivered["status"] is None else 200)


def _home_errors(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return ["[ERROR] must provide an object [json-pointer:/view]"]
    if view.get("type") != "home":
        return ["[ERROR] must be one of home [json-pointer:/view/type]"]
    errors = [f"[ERROR] {e}" for e in block_errors(view.get("blocks"), "/view/blocks", 100)]
    for key, limit in _LIMITS:
        if len(str(view.get(key, ""))) > limit:
            errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors
