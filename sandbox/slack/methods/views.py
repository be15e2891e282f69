"""The `views.*` Web API methods: modals opened with a user's trigger id, pushed onto (at most three deep) and
updated (by id or external_id, optionally only if unchanged since `hash`)."""

from __future__ import annotations

import copy

from sandbox.slack.blocks import view_errors
from sandbox.slack.model import JSON, Args, Interaction, SlackApiFailure, View, missing
from sandbox.slack.workspace import SlackWorkspace, WebApiMethod


def views_open(slack: SlackWorkspace, args: Args) -> JSON:
    definition = _view_definition(args)
    _check_external_id(slack, definition)
    interaction = _exchange_trigger(slack, args)
    view = slack.store_view(interaction.user_id, definition)
    interaction.views_opened.append(slack.view_api(view))
    return {"view": slack.view_api(view)}


def views_push(slack: SlackWorkspace, args: Args) -> JSON:
    definition = _view_definition(args)
    _check_external_id(slack, definition)
    interaction = _exchange_trigger(slack, args)
    top = next((v for v in reversed(slack.views.values()) if v.user_id == interaction.user_id and v.is_open),
               None)
    if top is not None and len(slack.view_stack(top)) >= 3:
        raise SlackApiFailure("push_limit_reached")
    view = slack.store_view(interaction.user_id, definition, previous=top)
    interaction.views_opened.append(slack.view_api(view))
    return {"view": slack.view_api(view)}


def views_update(slack: SlackWorkspace, args: Args) -> JSON:
    view_id, external_id = args.text("view_id"), args.text("external_id")
    if not view_id and not external_id:
        raise missing("view_id")
    view = slack.views.get(view_id or "") or next(
        (v for v in slack.views.values() if external_id and v.definition.get("external_id") == external_id),
        None)
    if view is None or not view.is_open:
        raise SlackApiFailure("not_found")
    expected = args.text("hash")
    if expected and expected != view.hash:
        raise SlackApiFailure("hash_conflict")
    definition = _view_definition(args)
    _check_external_id(slack, definition, view)
    slack.replace_view(view, definition)
    return {"view": slack.view_api(view)}


def _view_definition(args: Args) -> JSON:
    view = args.structure("view", "invalid_arguments")
    if view is None:
        raise missing("view")
    errors = view_errors(view)
    if errors:
        raise SlackApiFailure("invalid_arguments", response_metadata={"messages": errors})
    assert isinstance(view, dict)
    return copy.deepcopy(view)


def _check_external_id(slack: SlackWorkspace, definition: JSON, view: View | None = None) -> None:
    external_id = definition.get("external_id")
    if external_id and any(v.definition.get("external_id") == external_id and v is not view
                           for v in slack.views.values()):
        raise SlackApiFailure("duplicate_external_id")


def _exchange_trigger(slack: SlackWorkspace, args: Args) -> Interaction:
    trigger_id = args.text("trigger_id") or args.text("interactivity_pointer")
    if not trigger_id:
        raise missing("trigger_id")
    return slack.exchange_trigger(trigger_id)


METHODS: dict[str, WebApiMethod] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
}
