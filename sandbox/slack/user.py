"""Acting as a Slack user towards the bot: slash commands, button clicks and modal submissions, sent exactly as Slack
sends them, and a report of what the bot did in response. While the bot holds a Socket Mode connection
(`socket_mode.py`) they go over it as envelopes and the ack's payload is the bot's answer; otherwise they are a
signed form POST to the bot's events URL and the HTTP response is the answer.

Control routes (sandbox only; JSON in, JSON out; `user` is an id, name or email, `channel` an id or name):
  POST /sandbox/slack/command          {"user", "channel", "text", "command"?="/incident", "headers"?}
  POST /sandbox/slack/action           {"user", "channel", "message_ts", "action_id", "value"?, "headers"?}
  POST /sandbox/slack/view_submission  {"user", "view_id", "values": {block_id: {action_id: value}}, "headers"?}
Each answers {"status", "body", "response_url_posts", "views_opened", "trigger_id", ...}: the bot's answer (in Socket
Mode status 200 and the ack's payload, or null when the ack had none) and what it sent to this interaction's response
URL or opened with its trigger id until it went quiet. `headers` are extra HTTP headers; Socket Mode has none, so
there only X-Slack-Retry-Num / X-Slack-Retry-Reason count, as the envelope's retry_attempt / retry_reason. The
workspace state is `workspace.py`'s, the Web API `emulator.py`'s.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from sandbox.lone_surrogates import lone_surrogate
from sandbox.slack.model import JSON, Channel, Interaction, SlackUser, View
from sandbox.slack.person import escape_typed, typed_text
from sandbox.slack.workspace import SlackWorkspace, slack_signature

__all__ = ["SlackUserActions", "escape_typed", "slack_signature"]

# Where an input element's submitted value goes in view.state.values, by element type.
_STATE_KEYS = {
    "plain_text_input": "value", "email_text_input": "value", "url_text_input": "value", "number_input": "value",
    "static_select": "selected_option", "external_select": "selected_option", "radio_buttons": "selected_option",
    "multi_static_select": "selected_options", "multi_external_select": "selected_options",
    "checkboxes": "selected_options", "users_select": "selected_user", "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation", "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel", "multi_channels_select": "selected_channels",
    "datepicker": "selected_date", "timepicker": "selected_time", "datetimepicker": "selected_date_time",
}

class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class _Delivery:
    status: int | None
    body: Any
    error: str | None = None


class SlackUserActions:
    """The control routes; one per emulator."""

    def __init__(self, workspace: SlackWorkspace) -> None:
        self._slack = workspace

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sandbox/slack/command", self._command)
        app.router.add_post("/sandbox/slack/action", self._action)
        app.router.add_post("/sandbox/slack/view_submission", self._view_submission)

    # ----- routes -------------------------------------------------------------------------------------------------

    async def _command(self, request: web.Request) -> web.Response:
        try:
            data = await _control_body(request)
            user, channel = self._user(data), self._channel(data)
            if channel.is_archived:
                raise _ControlError(409, f"#{channel.name} is archived: Slack lets nobody type a command there")
            if not self._slack.installed:
                raise _ControlError(409, "the app is uninstalled: Slack no longer offers its slash command")
            command = str(data.get("command") or "/incident")
            where = lone_surrogate({k: data.get(k) for k in ("command", "text")})
            if where is not None:  # Slack sends a command as a form, which has no way to carry half a character
                raise _ControlError(400, f"{where} holds a lone UTF-16 surrogate (half a character, e.g. \\ud83d "
                                         "alone): a command's form cannot carry it; send the whole character")
            if not command.startswith("/"):
                raise _ControlError(400, f"command {command!r} must start with '/'")
            slack = self._slack
            interaction = slack.begin_interaction("command", user, channel)
            response_url = self._response_url(request, interaction)
            form = {"token": slack.verification_token, "team_id": slack.team_id, "team_domain": slack.team_domain,
                    "channel_id": channel.id, "channel_name": "directmessage" if channel.is_im else channel.name,
                    "user_id": user.id, "user_name": user.name, "command": command,
                    # A command registered with should_escape gets typed @names as <@U…|name>, as the client sends.
                    "text": typed_text(slack, str(data.get("text", "")),
                                       with_names=command in slack.escaped_commands),
                    "api_app_id": slack.app_id, "is_enterprise_install": "false", "response_url": response_url,
                    "trigger_id": interaction.trigger_id}
            delivery = await self._deliver("slash_commands", form, data.get("headers"), accepts_response_payload=True)
            if delivery.status == 200 and delivery.body:
                # An immediate answer to a command is shown like a response_url post (ephemeral by default).
                answer = delivery.body if isinstance(delivery.body, dict) else {"text": str(delivery.body)}
                slack.respond(interaction, answer)
            await self._slack.settled()
            return web.json_response(self._report(delivery, interaction, response_url))
        except _ControlError as error:
            return web.json_response({"error": error.message}, status=error.status)

    async def _action(self, request: web.Request) -> web.Response:
        try:
            data = await _control_body(request)
            user, channel = self._user(data), self._channel(data)
            ts = str(data.get("message_ts") or "")
            message = channel.messages.get(ts)
            if message is None or message.ephemeral_to not in (None, user.id):
                raise _ControlError(404, f"no message {ts!r} that {user.name} can see in #{channel.name}")
            block, button = _find_button(message.blocks, str(data.get("action_id") or ""), data.get("value"))
            if not self._slack.installed:
                raise _ControlError(409, "the app is uninstalled: Slack no longer sends its buttons' clicks")
            slack = self._slack
            interaction = slack.begin_interaction("block_actions", user, channel, source_ts=message.ts)
            response_url = self._response_url(request, interaction)
            action: JSON = {"action_id": button["action_id"], "block_id": block["block_id"],
                            "text": button.get("text"), "type": "button", "action_ts": f"{slack.clock():.6f}"}
            for key in ("value", "style"):
                if key in button:
                    action[key] = button[key]
            container: JSON = {"type": "message", "message_ts": message.ts, "channel_id": channel.id,
                               "is_ephemeral": message.ephemeral_to is not None}
            if message.thread_ts:
                container["thread_ts"] = message.thread_ts
            payload: JSON = {
                "type": "block_actions", "user": self._user_ref(user), "api_app_id": slack.app_id,
                "token": slack.verification_token, "container": container, "trigger_id": interaction.trigger_id,
                "team": {"id": slack.team_id, "domain": slack.team_domain}, "enterprise": None,
                "is_enterprise_install": False, "channel": {"id": channel.id, "name": channel.name},
                "state": {"values": {}}, "response_url": response_url, "actions": [action],
            }
            if message.ephemeral_to is None:  # Slack does not send the content of an ephemeral message back
                payload["message"] = message.to_api(slack.team_id)
            # A click's ack carries nothing back to Slack: the bot answers through the response URL.
            delivery = await self._deliver("interactive", payload, data.get("headers"), accepts_response_payload=False)
            await self._slack.settled()
            return web.json_response(self._report(delivery, interaction, response_url))
        except _ControlError as error:
            return web.json_response({"error": error.message}, status=error.status)

    async def _view_submission(self, request: web.Request) -> web.Response:
        try:
            data = await _control_body(request)
            user = self._user(data)
            slack = self._slack
            view = slack.find_view(str(data.get("view_id") or ""))
            if view is None or view.user_id != user.id:
                raise _ControlError(404, f"no view {data.get('view_id')!r} open for {user.name}")
            if not view.is_open:
                raise _ControlError(409, f"view {view.id} is closed")
            if slack.view_stack(view)[-1] is not view:
                raise _ControlError(409, f"view {view.id} is under a pushed view: only the top one can be submitted")
            values = data.get("values") or {}
            if not isinstance(values, dict):
                raise _ControlError(400, "values must be {block_id: {action_id: value}}")
            view.values = self._state_values(view, values)
            interaction = slack.begin_interaction("view_submission", user, None)
            payload = {"type": "view_submission", "team": {"id": slack.team_id, "domain": slack.team_domain},
                       "user": self._user_ref(user), "api_app_id": slack.app_id, "token": slack.verification_token,
                       "trigger_id": interaction.trigger_id, "view": slack.view_api(view), "response_urls": [],
                       "is_enterprise_install": False, "enterprise": None}
            delivery = await self._deliver("interactive", payload, data.get("headers"), accepts_response_payload=True)
            outcome = self._apply_view_answer(view, delivery)
            await self._slack.settled()
            report = self._report(delivery, interaction, None)
            report["view_outcome"] = outcome
            report["view"] = {**slack.view_api(view), "open": view.is_open, "errors": view.errors}
            return web.json_response(report)
        except _ControlError as error:
            return web.json_response({"error": error.message}, status=error.status)

    # ----- helpers ------------------------------------------------------------------------------------------------

    def _user(self, data: JSON) -> SlackUser:
        user = self._slack.resolve_user(str(data.get("user") or ""))
        if user is None or user.is_bot:
            raise _ControlError(404, f"no Slack user {data.get('user')!r}: use a sandbox person's id, name or email")
        return user

    def _channel(self, data: JSON) -> Channel:
        channel = self._slack.find_channel(str(data.get("channel") or ""))
        if channel is None:
            # A script that named an incident's channel by hand (inc-1-… is only a fresh sandbox's first) is told
            # where the real name is.
            raise _ControlError(404, f"no channel {data.get('channel')!r}: give a channel's name or id — an "
                                "incident's is the trigger's \"slack_channel\"; GET /sandbox/state lists them "
                                "under slack.channels")
        return channel

    def _user_ref(self, user: SlackUser) -> JSON:
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": self._slack.team_id}

    def _response_url(self, request: web.Request, interaction: Interaction) -> str:
        base = self._slack.public_url or str(request.url.origin())
        return f"{base.rstrip('/')}/sandbox/slack/response/{interaction.id}"

    async def _deliver(self, envelope_type: str, payload: JSON, extra_headers: Any, *,
                       accepts_response_payload: bool) -> _Delivery:
        """Deliver one command or interaction the way Slack would right now: over the bot's Socket Mode connection
        if it holds one (Slack then does not use the Request URL), else by POST to `bot_events_url`."""
        slack = self._slack
        if extra_headers is not None and not isinstance(extra_headers, dict):
            raise _ControlError(400, "headers must be an object of header names to values")
        headers = {str(k): str(v) for k, v in (extra_headers or {}).items()}
        if slack.socket_mode.connected:
            return await self._deliver_over_socket(envelope_type, payload, headers, accepts_response_payload)
        if not slack.bot_events_url:
            raise _ControlError(409, "the bot is not listening yet: bot_events_url is not set and it holds no "
                                     "Socket Mode connection")
        # A command is a plain form; an interaction is a form with one field, `payload`, holding the JSON.
        body = urlencode(payload) if envelope_type == "slash_commands" else urlencode({"payload": json.dumps(payload)})
        return await self._post(slack.bot_events_url, body, headers)

    async def _deliver_over_socket(self, envelope_type: str, payload: JSON, headers: dict[str, str],
                                   accepts_response_payload: bool) -> _Delivery:
        slack = self._slack
        lowered = {k.lower(): v for k, v in headers.items()}
        retry_attempt: int | None = None
        if "x-slack-retry-num" in lowered:
            try:
                retry_attempt = int(lowered["x-slack-retry-num"])
            except ValueError:
                raise _ControlError(400, "X-Slack-Retry-Num must be a whole number in Socket Mode") from None
        ack = await slack.socket_mode.deliver(envelope_type, payload, accepts_response_payload=accepts_response_payload,
                                              ack_within=slack.ack_timeout_seconds, retry_attempt=retry_attempt,
                                              retry_reason=lowered.get("x-slack-retry-reason"))
        if ack.error:
            return _Delivery(None, None, ack.error)
        return _Delivery(200, ack.payload)

    async def _post(self, url: str, body: str, extra_headers: dict[str, str]) -> _Delivery:
        slack = self._slack
        # The bot checks the timestamp against its own wall clock, so it is signed with real time, not slack.clock.
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                   "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": slack_signature(slack.signing_secret, timestamp, body)}
        headers.update(extra_headers)
        timeout = aiohttp.ClientTimeout(total=slack.ack_timeout_seconds)  # Slack gives up after three seconds
        try:
            async with slack.session().post(url, data=body.encode(), headers=headers,
                                            timeout=timeout) as response:
                status, text = response.status, await response.text()
        except TimeoutError:
            return _Delivery(None, None, "operation_timeout")
        except aiohttp.ClientError:
            return _Delivery(None, None, "dispatch_failed")
        try:
            parsed: Any = json.loads(text) if text else text
        except ValueError:
            parsed = text
        return _Delivery(status, parsed)

    def _report(self, delivery: _Delivery, interaction: Interaction, response_url: str | None) -> JSON:
        report: JSON = {"status": delivery.status, "body": delivery.body,
                        "response_url_posts": copy.deepcopy(interaction.response_url_posts),
                        "views_opened": copy.deepcopy(interaction.views_opened),
                        "trigger_id": interaction.trigger_id, "response_url": response_url}
        if delivery.error:
            report["error"] = delivery.error
        return report

    def _state_values(self, view: View, submitted: JSON) -> JSON:
        """view.state.values as Slack builds it: every input block, with what the user entered (or nothing)."""
        inputs = {b["block_id"]: b for b in view.definition["blocks"] if b.get("type") == "input"}
        unknown = set(submitted) - set(inputs)
        if unknown:
            raise _ControlError(400, f"view {view.id} has no input block(s) {sorted(unknown)}; "
                                     f"its input blocks are {sorted(inputs)}")
        state: JSON = {}
        for block_id, block in inputs.items():
            element = block["element"]
            given = submitted.get(block_id) or {}
            if not isinstance(given, dict) or set(given) - {element["action_id"]}:
                raise _ControlError(400, f"block {block_id!r} has one input, action_id {element['action_id']!r}")
            value = given.get(element["action_id"])
            if value in (None, "", []) and not block.get("optional"):
                # Slack's client refuses to submit a modal with an empty required input.
                raise _ControlError(422, f"input {block_id!r} is required: Slack would not let the user submit")
            if value not in (None, "", []):
                _check_entry(block_id, element, value)
            state[block_id] = {element["action_id"]: self._element_state(element, value)}
        return state

    def _element_state(self, element: JSON, value: Any) -> JSON:
        kind = str(element["type"])
        key = _STATE_KEYS.get(kind)
        if key is None:
            raise _ControlError(400, f"input elements of type {kind!r} are not emulated")
        state: JSON = {"type": kind}
        many = kind.startswith("multi_") or kind == "checkboxes"
        values = (value if isinstance(value, list) else [value]) if value not in (None, "") else []
        if key in ("selected_option", "selected_options"):
            picked = [_option(element, str(v)) for v in values]
            state[key] = picked if many else (picked[0] if picked else None)
        elif kind in ("users_select", "multi_users_select"):
            ids = []
            for ref in values:
                user = self._slack.resolve_user(str(ref))
                if user is None:
                    raise _ControlError(400, f"no Slack user {ref!r}")
                ids.append(user.id)
            state[key] = ids if many else (ids[0] if ids else None)
        elif key == "value":
            state[key] = None if value in (None, "") else str(value)
        else:
            state[key] = [str(v) for v in values] if many else (str(values[0]) if values else None)
        return state

    def _apply_view_answer(self, view: View, delivery: _Delivery) -> str:
        """Do what Slack does with the bot's answer to a submission; returns what happened."""
        slack = self._slack
        if delivery.status != 200:
            return "failed: the modal stays open and Slack shows the user an error"
        answer = delivery.body if isinstance(delivery.body, dict) else {}
        action = answer.get("response_action")
        if not delivery.body or action is None:
            view.is_open = False
            return "closed"
        if action == "errors":
            errors = answer.get("errors")
            inputs = {b["block_id"] for b in view.definition["blocks"] if b.get("type") == "input"}
            if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
                return "invalid: errors must name input blocks of the view"
            view.errors = errors
            return "errors"
        if action == "clear":
            for stacked in slack.view_stack(view):
                stacked.is_open = False
            return "cleared"
        if action in ("update", "push"):
            definition = answer.get("view")
            problems = slack.check_view(definition)
            if problems or not isinstance(definition, dict):
                return f"invalid: {'; '.join(problems)}"
            if action == "update":
                slack.replace_view(view, copy.deepcopy(definition))
                return "updated"
            if len(slack.view_stack(view)) >= 3:
                return "invalid: push_limit_reached"
            slack.store_view(view.user_id, copy.deepcopy(definition), previous=view)
            return "pushed"
        return f"invalid: unknown response_action {action!r}"


def _find_button(blocks: list[JSON], action_id: str, value: Any) -> tuple[JSON, JSON]:
    for block in blocks:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if (element.get("type") == "button" and element.get("action_id") == action_id
                    and (value is None or element.get("value") == value)):
                return block, element
    raise _ControlError(404, f"no button with action_id {action_id!r}"
                             + (f" and value {value!r}" if value is not None else "") + " in that message")


def _check_entry(block_id: str, element: JSON, value: Any) -> None:
    """What Slack's client refuses to submit (422, naming the input): a text input's value shorter than its
    `min_length` or longer than its `max_length` (3000 at most, the default); a number input's value that is not a
    number (a whole one unless `is_decimal_allowed`) or is outside `min_value`..`max_value`."""
    kind, refused = element["type"], ""
    if kind == "plain_text_input":
        length, longest = len(str(value)), int(min(_bound(element, "max_length") or 3000, 3000))
        shortest = int(_bound(element, "min_length") or 0)
        if length > longest:
            refused = f"takes at most {longest} characters (max_length), not {length}"
        elif length < shortest:
            refused = f"takes at least {shortest} characters (min_length), not {length}"
    elif kind == "number_input":
        decimal = bool(element.get("is_decimal_allowed"))
        try:
            number = float(str(value)) if decimal else int(str(value))
        except ValueError:
            number = None
        if number is None:
            refused = f"takes {'a number' if decimal else 'a whole number'}, not {value!r}"
        elif (least := _bound(element, "min_value")) is not None and number < least:
            refused = f"takes {element['min_value']} at least (min_value), not {value}"
        elif (most := _bound(element, "max_value")) is not None and number > most:
            refused = f"takes {element['max_value']} at most (max_value), not {value}"
    if refused:
        raise _ControlError(422, f"input {block_id!r} {refused}: Slack would not let the user submit")


def _bound(element: JSON, key: str) -> float | None:
    """A length or value bound of an input element (Slack gives number bounds as strings), None when unset."""
    try:
        return float(str(element[key])) if element.get(key) not in (None, "") else None
    except ValueError:
        return None


def _option(element: JSON, value: str) -> JSON:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    if element["type"].endswith("external_select"):
        return {"text": {"type": "plain_text", "text": value}, "value": value}
    for option in options:
        if option.get("value") == value:
            return copy.deepcopy(dict(option))
    raise _ControlError(400, f"{value!r} is not one of the options of {element['action_id']!r}")


async def _control_body(request: web.Request) -> JSON:
    try:
        data = await request.json()
    except ValueError:
        raise _ControlError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _ControlError(400, "the body must be a JSON object")
    return data
