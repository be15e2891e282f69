"""The sandbox: faithful local emulators of Slack, PagerDuty (and later ServiceNow), served beside the bot.

They are the tests' doubles and the product's zero-credential mode (`pavedroad sandbox`).
"""
