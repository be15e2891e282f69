"""Block Kit as Slack checks and stores it: what `chat.*`, `views.*` and response URLs refuse with `invalid_blocks`
or `invalid_arguments` (a subset, chosen for what a bot gets wrong), and the ids Slack fills in on what it keeps.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sandbox.slack.model import JSON, derived_id

_BLOCK_TYPES = {"actions", "context", "divider", "file", "header", "image", "input", "section", "rich_text",
                "video", "markdown", "table", "call", "context_actions"}


def _text_errors(obj: Any, pointer: str, limit: int, *, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {', '.join(allowed)} [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _element_errors(element: Any, pointer: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"must provide an object with a type [json-pointer:{pointer}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not 0 < len(action_id) <= 255:
            errors.append(f"must be 1 to 255 characters [json-pointer:{pointer}/action_id]")
        elif action_id in action_ids:
            errors.append(f"duplicate action_id {action_id!r} in block [json-pointer:{pointer}/action_id]")
        else:
            action_ids.add(action_id)
    if element["type"] == "button":
        errors += _text_errors(element.get("text"), f"{pointer}/text", 75, plain=True)
        confirm = element.get("confirm")
        if confirm is not None:
            errors += _confirm_errors(confirm, f"{pointer}/confirm")
        if len(str(element.get("value", ""))) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    return errors


def _confirm_errors(confirm: Any, pointer: str) -> list[str]:
    """A confirmation dialog: title 100, text 300, confirm and deny 30 characters."""
    if not isinstance(confirm, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    errors = _text_errors(confirm.get("title"), f"{pointer}/title", 100, plain=True)
    errors += _text_errors(confirm.get("text"), f"{pointer}/text", 300)
    for key in ("confirm", "deny"):
        errors += _text_errors(confirm.get(key), f"{pointer}/{key}", 30, plain=True)
    return errors


def block_errors(blocks: Any, pointer: str, max_blocks: int) -> list[str]:
    """Slack's complaints about a list of blocks, in its `[json-pointer:...]` style; empty when valid."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors = [f"no more than {max_blocks} items allowed [json-pointer:{pointer}]"] if len(blocks) > max_blocks else []
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            errors.append(f"unsupported block type [json-pointer:{at}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"must be 1 to 255 characters [json-pointer:{at}/block_id]")
            elif block_id in block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{at}/block_id]")
            block_ids.add(str(block_id))
        action_ids: set[str] = set()
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{at}]")
            if "text" in block:
                errors += _text_errors(block["text"], f"{at}/text", 3000)
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(f"must be an array of at most 10 items [json-pointer:{at}/fields]")
            else:
                for i, item in enumerate(fields):
                    errors += _text_errors(item, f"{at}/fields/{i}", 2000)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{at}/accessory", action_ids)
        elif kind == "header":
            errors += _text_errors(block.get("text"), f"{at}/text", 150, plain=True)
        elif kind in ("actions", "context"):
            elements, most = block.get("elements"), (25 if kind == "actions" else 10)
            if not isinstance(elements, list) or not 0 < len(elements) <= most:
                errors.append(f"must be an array of 1 to {most} items [json-pointer:{at}/elements]")
            elif kind == "actions":
                for i, element in enumerate(elements):
                    errors += _element_errors(element, f"{at}/elements/{i}", action_ids)
            else:  # a context's text elements (its images have no text)
                for i, element in enumerate(elements):
                    if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                        errors += _text_errors(element, f"{at}/elements/{i}", 2000)
        elif kind == "input":
            errors += _text_errors(block.get("label"), f"{at}/label", 2000, plain=True)
            errors += _element_errors(block.get("element"), f"{at}/element", action_ids)
    return errors


def normalised_blocks(blocks: list[JSON]) -> list[JSON]:
    """Blocks as Slack stores them: every block gets a block_id and every element an action_id if the app gave none."""
    stored = copy.deepcopy(blocks)
    for index, block in enumerate(stored):
        seed = json.dumps(block, sort_keys=True) + str(index)
        block.setdefault("block_id", derived_id("", seed, 5))
        elements = [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
        if block["type"] == "actions":
            elements += [e for e in block.get("elements", []) if isinstance(e, dict)]
        for position, element in enumerate(elements):
            element.setdefault("action_id", derived_id("", f"{seed}:{position}", 5))
    return stored


def view_errors(view: Any) -> list[str]:
    """Slack's complaints about a modal definition (views.open/push/update and response_action update/push)."""
    if not isinstance(view, dict):
        return ["[ERROR] must provide an object [json-pointer:/view]"]
    if view.get("type") != "modal":
        return ["[ERROR] must be one of modal [json-pointer:/view/type]"]
    errors = [f"[ERROR] {e}" for e in _text_errors(view.get("title"), "/view/title", 24, plain=True)]
    for key in ("submit", "close"):
        if view.get(key) is not None:
            errors += [f"[ERROR] {e}" for e in _text_errors(view[key], f"/view/{key}", 24, plain=True)]
    blocks = view.get("blocks")
    errors += [f"[ERROR] {e}" for e in block_errors(blocks, "/view/blocks", 100)]
    if isinstance(blocks, list) and view.get("submit") is None and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks):
        errors.append("[ERROR] must provide a submit property when using input blocks [json-pointer:/view]")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        if len(str(view.get(key, ""))) > limit:
            errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors
