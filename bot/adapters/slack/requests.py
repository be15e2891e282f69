"""Slack's HTTP requests to the bot (POST /slack/events), checked at the door before Bolt sees them.

Slack signs every request (docs: "Verifying requests from Slack"): `X-Slack-Signature` is `v0=` and the hex
HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}` under the app's signing secret, and a timestamp more than
five minutes from now is refused — slack_sdk's SignatureVerifier, here on the raw bytes and without its exceptions:
a missing, non-ASCII or non-numeric header is an unverifiable request (401), never a crash.

A signed body is then read the way Bolt will read it (a JSON object, a form, or a form whose `payload` field holds a
JSON object) and held to the shape of what Bolt and our listeners route on (`SlackBody`): ids, types, the actions
of a click, the view of a form, the event of an event callback. What does not read is the client's mistake (400,
with a one-line reason naming the field): not UTF-8, not JSON, not an object, nested too deep, a lone surrogate
(not I-JSON: the body cannot be cleaned without breaking its signature), a field of the wrong type. Bolt verifies
the signature again and does the rest; Socket Mode does not pass here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from bot.adapters import wire
from bot.errors import DeliveryError

SIGNATURE_WINDOW_SECONDS = 60 * 5
# The header a listener sets on a 500 it answers on purpose (the store refused to record an event: Slack is to send it
# again), having logged why itself: the web door passes the 500 on without an ERROR of its own, and drops the header.
SENT_AGAIN = "x-paved-road-sent-again"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class SlackRequests:
    """The door of POST /slack/events: `check_signature` (401 when it raises), then `read` (400 when it raises)."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret, self._now = signing_secret, clock

    def check_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        timestamp = headers.get("X-Slack-Request-Timestamp") or ""
        signature = headers.get("X-Slack-Signature") or ""
        if not self._secret:
            raise DeliveryError("no SLACK_SIGNING_SECRET is configured: requests over HTTP cannot be verified")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise DeliveryError("X-Slack-Request-Timestamp is missing or not a number of seconds")
        if abs(self._now() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            raise DeliveryError("X-Slack-Request-Timestamp is more than five minutes from now (a replay, or a clock "
                                "that is off)")
        expected = "v0=" + hmac.new(self._secret.encode(), b"v0:" + timestamp.encode() + b":" + body,
                                    hashlib.sha256).hexdigest()
        if not _SIGNATURE.fullmatch(signature) or not hmac.compare_digest(expected.encode(), signature.encode()):
            raise DeliveryError("X-Slack-Signature does not match SLACK_SIGNING_SECRET")

    def read(self, body: bytes, headers: Mapping[str, str]) -> str:
        """The body as the text Bolt is to be given (exactly the signed bytes), once it is seen to read."""
        text = wire.decode(body, drop_bom=False)
        content_type = (headers.get("Content-Type") or "").split(";")[0]  # exactly as Bolt takes it
        read_body(text, content_type)
        return text


def read_body(text: str, content_type: str) -> dict[str, Any]:
    """What Bolt will make of a body (slack_bolt.request.internals.parse_body), checked; DeliveryError if it would
    not read."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        document, where = wire.loads(text), "body"
    elif "payload" in text and "payload" in (form := dict(parse_qsl(text, keep_blank_values=True))):
        # An interaction: a form whose one field holds the JSON. A form merely containing the word "payload" is
        # handed to Bolt as the form it is (bot/app/web.py's _bolt_request), so it is checked as one, below.
        payload = form["payload"]
        try:
            document, where = wire.loads(payload), "the payload form field"
        except DeliveryError as error:  # said of the field, not of the body
            raise DeliveryError(str(error).replace("body", "the payload form field", 1)) from None
    else:
        document, where = dict(parse_qsl(text, keep_blank_values=True)), "body"  # a slash command: a form of strings
    if not isinstance(document, dict):
        raise DeliveryError(f"{where} is {wire.describe(document)}, not a JSON object")
    if broken := wire.unsafe_text_at(document, "body"):
        raise DeliveryError(f"{broken} has a lone surrogate (half a character): not I-JSON")
    try:
        SlackBody.model_validate(document)
    except ValidationError as error:
        raise DeliveryError(wire.reason(error, "body")) from None
    return document


def _id_or_object(value: Any) -> Any:
    """Slack names a user, channel, team or enterprise by its id, or by an object with an `id`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id", ""), str | None):
        return value
    raise ValueError(f"is {wire.describe(value)}, not an id or an object with a string id")


IdOrObject = Annotated[Any, BeforeValidator(_id_or_object)]
_SHAPE = ConfigDict(strict=True, extra="ignore", frozen=True)


class Part(BaseModel):
    """An event, message, item or thread: where Bolt looks for who acted, and where."""

    model_config = _SHAPE
    type: str | None = None
    subtype: str | None = None
    user: IdOrObject = None
    channel: IdOrObject = None
    team: IdOrObject = None
    ts: str | None = None
    thread_ts: str | None = None
    channel_type: str | None = None
    function_execution_id: str | None = None
    message: Part | None = None
    previous_message: Part | None = None
    item: Part | None = None
    assistant_thread: Part | None = None


class Event(Part):
    type: str  # Bolt matches listeners on it


class Action(BaseModel):
    model_config = _SHAPE
    action_id: str
    block_id: str | None = None
    type: str | None = None
    value: str | None = None


class ViewState(BaseModel):
    model_config = _SHAPE
    values: dict[str, dict[str, dict[str, Any]]]


def _metadata(text: str | None) -> str | None:
    """The bot's forms carry a JSON object in private_metadata (bot/render/replies.py); Slack hands it back as is."""
    if text:
        try:
            document = wire.loads(text)
        except DeliveryError:
            document = None
        if not isinstance(document, dict):
            raise ValueError("is not the JSON object the bot's forms carry")
    return text


class View(BaseModel):
    model_config = _SHAPE
    id: str | None = None
    type: str | None = None
    callback_id: str | None = None
    private_metadata: Annotated[str | None, AfterValidator(_metadata)] = None
    team_id: str | None = None
    app_installed_team_id: str | None = None
    state: ViewState | None = None


class Authorization(BaseModel):
    model_config = _SHAPE
    enterprise_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None


class ResponseUrl(BaseModel):
    model_config = _SHAPE
    response_url: str | None = None


class SlackBody(Part):
    """A command, interaction or event callback, as far as Bolt and commands/ read it before answering."""

    token: str | None = None
    api_app_id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None
    enterprise: IdOrObject = None
    user_id: str | None = None
    channel_id: str | None = None
    event_id: str | None = None
    command: str | None = None
    text: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    response_urls: list[ResponseUrl] | None = None
    callback_id: str | None = None
    action_id: str | None = None
    authorizations: list[Authorization] | None = None
    event: Event | None = None
    actions: list[Action] | None = None
    view: View | None = None
    container: dict[str, Any] | None = None
    function_data: dict[str, Any] | None = None
    workflow_step: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _carries_what_its_kind_needs(self) -> SlackBody:
        """What each kind of request must carry for Bolt to route it, and commands/ to read it before the ack."""
        kind = "a slash command" if "command" in self.model_fields_set else str(self.type)
        for path in _NEEDS.get(kind, ()):
            value: Any = self
            for name in path.split("."):
                value = getattr(value, name, None) if isinstance(value, BaseModel) else \
                    value.get(name) if isinstance(value, dict) else None
            if value is None or value == "" or (path == "actions" and value == []):
                raise ValueError(f"has no {path}, which {_KINDS.get(kind, kind)} carries")
        for name in ("event", "view"):  # Bolt's middleware reads body.get(name, {}).get(…): null is not absent
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"has {name} set to null, where Slack sends an object")
        return self


_KINDS = {"event_callback": "an event callback", "block_actions": "a click", "view_submission": "a form's "
          "submission", "view_closed": "a closed form", "interactive_message": "a click on an attachment",
          "workflow_step_edit": "a workflow step's edit"}
# Bolt reads these without looking first (slack_bolt.request.payload_utils: to_action, to_step; its matchers).
_NEEDS = {"event_callback": ("event", "event.type"), "block_actions": ("actions", "user"),
          "view_submission": ("view", "view.callback_id", "view.type", "view.state", "user", "user.id"),
          "view_closed": ("view", "view.callback_id"), "interactive_message": ("actions",),
          "workflow_step_edit": ("workflow_step",), "a slash command": ("user_id", "channel_id")}
