"""app_manifest.yml stays in step with what the code registers and calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from commands.table import SLASH_COMMAND, SUBCOMMANDS
from sandbox.slack.workspace import BOT_SCOPES, SlackWorkspace

ROOT = Path(__file__).parent.parent
MANIFEST = yaml.safe_load((ROOT / "app_manifest.yml").read_text())

# The scope each Slack method needs (https://api.slack.com/methods), and each event.
SCOPE_FOR_METHOD = {
    "conversations.create": "channels:manage", "conversations.setTopic": "channels:manage",
    "conversations.invite": "channels:manage", "conversations.info": "channels:read",
    "conversations.list": "channels:read", "conversations.history": "channels:history",
    "chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
    "pins.add": "pins:write", "users.info": "users:read", "users.lookupByEmail": "users:read.email",
    "views.open": None, "views.update": None, "views.publish": None, "auth.test": None,
    # slack_sdk's files_upload_v2: files.getUploadURLExternal and files.completeUploadExternal, both files:write.
    "files.upload_v2": "files:write",
    "conversations.replies": "channels:history", "conversations.archive": "channels:manage",
    "conversations.members": "channels:read",
    "chat.getPermalink": None, "conversations.open": "im:write",
}
SCOPE_FOR_EVENT: dict[str, str | None] = {"app_mention": "app_mentions:read", "reaction_added": "reactions:read",
                                         "app_home_opened": None, "tokens_revoked": None, "app_uninstalled": None,
                                         "member_joined_channel": "channels:read", "pin_removed": "pins:read",
                                         "channel_rename": "channels:read", "group_rename": "groups:read"}


def methods_called() -> set[str]:
    """Every Slack method the code calls, read from the adapters' source: `_call("method")`, and any slack_sdk
    client method called by name (`client.files_upload_v2(...)` is files.upload_v2). `api_call` is the generic door
    `_call` goes through: its methods are the `_call` names."""
    called: set[str] = set()
    for module in (ROOT / "bot" / "adapters" / "slack").glob("*.py"):
        source = module.read_text()
        called |= set(re.findall(r'_call\(\s*"([a-zA-Z.]+)"', source))
        called |= {name.replace("_", ".", 1) for name in re.findall(r"client\.([a-z]+_[a-zA-Z0-9_]+)\(", source)
                   if name != "api_call"}
    return called


def test_only_the_slack_adapters_call_slack() -> None:
    # commands/ answers through the Interactions port: a Web API call there (a client method, or Bolt's `say` and
    # `respond` helpers) would escape the scope check above.
    for module in (ROOT / "commands").glob("*.py"):
        source = module.read_text()
        assert not re.findall(r"client\.[a-z]+_[a-zA-Z0-9_]+\(", source), module.name
        assert not {"slack_sdk", "AsyncSay", "AsyncRespond"} & set(re.findall(r"\w+", source)), module.name


def test_the_manifest_declares_the_slash_command_the_code_registers() -> None:
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert commands == [SLASH_COMMAND]
    hint = MANIFEST["features"]["slash_commands"][0]["usage_hint"]
    words = set(re.findall(r"[a-z][a-z-]+", hint))
    assert words - {"note", "message", "text", "who", "title", "owner"} <= {s.name for s in SUBCOMMANDS}
    # ...and every subcommand is in the hint people see in Slack's command menu.
    assert {s.name for s in SUBCOMMANDS} <= words


def test_mentions_in_commands_arrive_as_user_ids() -> None:
    # `/incident page @someone` needs Slack's escaped form <@U…|name>; unescaped, it would be a bare name.
    assert MANIFEST["features"]["slash_commands"][0]["should_escape"] is True


def test_interactivity_and_events_point_at_the_bots_route() -> None:
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert MANIFEST["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert MANIFEST["features"]["slash_commands"][0]["url"].endswith("/slack/events")
    assert isinstance(MANIFEST["settings"]["socket_mode_enabled"], bool)


def test_the_bot_has_exactly_the_scopes_the_code_needs() -> None:
    called = methods_called()
    assert {"conversations.create", "chat.postMessage", "pins.add", "users.lookupByEmail", "views.open",
            "chat.postEphemeral", "users.info"} <= called
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    needed = {SCOPE_FOR_METHOD[m] for m in called if SCOPE_FOR_METHOD[m]}
    needed |= {s for e in events if (s := SCOPE_FOR_EVENT[e])}
    needed |= {"commands", "chat:write.public"}
    if "private_channel" in (ROOT / "bot" / "adapters" / "slack" / "chat.py").read_text():
        # Private channels by name (conversations.list), and a lost post looked for there: their kind's scopes.
        needed |= {"groups:read", "groups:history"}
    if "conversations.open" in called:
        # A direct message whose answer was lost is looked for in the DM it opens: that DM's history.
        needed |= {"im:history"}
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert needed - scopes == set(), "scopes missing from the manifest"
    assert scopes - needed == set(), "scopes in the manifest that no call needs"


def test_every_event_subscribed_has_a_listener() -> None:
    source = "".join(module.read_text() for module in (ROOT / "commands").glob("*.py"))
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        assert re.search(rf'app\.event\(\s*"{event}"', source), f"no listener for {event}"


def test_the_manifest_subscribes_to_exactly_the_events_the_code_listens_to() -> None:
    listened = set(re.findall(r'app\.event\(\s*"([a-z_]+)"', (ROOT / "commands" / "listeners.py").read_text()))
    assert {"app_mention", "reaction_added", "app_home_opened", "tokens_revoked", "app_uninstalled"} <= listened
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == listened


def test_the_sandbox_sends_the_events_the_manifest_subscribes_to() -> None:
    workspace = SlackWorkspace(people=[], channels=[], signing_secret="s")
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == workspace.bot_events


def test_the_sandbox_names_the_bot_as_the_manifest_does() -> None:
    # The sandbox called it "paved-road": the README's "@pavedroad help" was plain text there, and nothing answered.
    workspace = SlackWorkspace(people=[], channels=[], signing_secret="s")
    assert workspace.bot.name == MANIFEST["features"]["bot_user"]["display_name"] == "pavedroad"


def test_the_home_tab_is_enabled_and_its_event_subscribed() -> None:
    # The bot publishes a Home view (views.publish) when app_home_opened arrives: Slack answers `not_enabled` to an
    # app without the Home tab, and sends no event to one not subscribed.
    assert "views.publish" in methods_called()
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in MANIFEST["settings"]["event_subscriptions"]["bot_events"]


def test_the_messages_tab_shows_what_the_bot_sends_directly_but_takes_no_messages() -> None:
    # After a form, when the person is no longer in the incident's channel, the answer goes to them directly
    # (commands/answers.py privately_in): with the Messages tab off they would never see it. Read-only: the bot
    # listens to no direct message, so nobody should be invited to write to it.
    app_home = MANIFEST["features"]["app_home"]
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is True
    assert "message.im" not in MANIFEST["settings"]["event_subscriptions"]["bot_events"]


def test_the_commands_description_names_every_subcommand() -> None:
    # Slack's command menu shows the description: `handover-note` and `followups` were missing from it.
    description = MANIFEST["features"]["slash_commands"][0]["description"]
    named = set(re.findall(r"[a-z][a-z-]+", description))
    assert {s.name for s in SUBCOMMANDS} - named == set()


def test_the_header_names_every_url_to_replace() -> None:
    # It said "replace the two URLs" over three (the slash command's, the events' and interactivity's).
    urls = re.findall(r"https://pavedroad\.example\.com/slack/events", (ROOT / "app_manifest.yml").read_text())
    header = (ROOT / "app_manifest.yml").read_text().split("\n_metadata:")[0]
    assert len(urls) == 3 and "replace the three URLs" in header


def test_each_methods_scope_is_the_one_slacks_published_catalogue_names() -> None:
    # SCOPE_FOR_METHOD above is written by hand; Slack's own Web API catalogue (tests/fixtures/slack, copied from
    # ../shared/specs) names each method's scopes, in their 2021 classic form: a bot token's granular scope is
    # chat:write for chat:write:bot and channels:manage for channels:write. Methods newer than the catalogue (the
    # external file upload) are checked against Slack's method pages by hand.
    published = json.loads((ROOT / "tests" / "fixtures" / "slack" / "method_scopes.json").read_text())["methods"]
    granular = {"chat:write:bot": "chat:write", "channels:write": "channels:manage", "none": None}
    newer_than_the_catalogue = {"files.upload_v2"}
    for method in methods_called() - newer_than_the_catalogue:
        assert method in published, f"{method}: not in Slack's catalogue; add it to the fixture or to the newer ones"
        assert SCOPE_FOR_METHOD[method] in {granular.get(scope, scope) for scope in published[method]}, method


def test_the_sandbox_slack_grants_the_bot_the_manifests_scopes() -> None:
    """The emulator refuses what these scopes do not cover (`missing_scope`), as Slack does for an app installed
    from this manifest."""
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
