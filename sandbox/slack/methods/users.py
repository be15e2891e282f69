"""The `users.*` Web API methods and `auth.test`: who is in the workspace, and who the bot's token says it is."""

from __future__ import annotations

from sandbox.slack.model import JSON, TEAM_NAME, Args, SlackApiFailure
from sandbox.slack.workspace import SlackWorkspace, WebApiMethod


def users_lookup_by_email(slack: SlackWorkspace, args: Args) -> JSON:
    email = args.required("email").lower()
    user = next((u for u in slack.users.values() if (u.email or "").lower() == email), None)
    if user is None:
        raise SlackApiFailure("users_not_found")
    return {"user": user.to_api(slack.team_id)}


def users_info(slack: SlackWorkspace, args: Args) -> JSON:
    return {"user": slack.user_arg(args).to_api(slack.team_id)}


def auth_test(slack: SlackWorkspace, args: Args) -> JSON:
    return {"url": f"https://{slack.team_domain}.slack.com/", "team": TEAM_NAME, "user": slack.bot.name,
            "team_id": slack.team_id, "user_id": slack.bot.id, "bot_id": slack.bot_id,
            "is_enterprise_install": False}


METHODS: dict[str, WebApiMethod] = {
    "auth.test": auth_test,
    "users.lookupByEmail": users_lookup_by_email,
    "users.info": users_info,
}
