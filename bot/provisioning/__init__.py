"""Provisioning PagerDuty (and the teams' Slack channels) from the catalogue: `pavedroad provision plan|apply`.

`desired` turns the catalogue into the resources it implies, `pagerduty_api` reads and writes PagerDuty, `plan`
diffs the two into ordered actions and renders them, `apply` performs them, `slack_channels` creates missing team
channels, and `command` is the CLI glue. See the README section "Provisioning PagerDuty from the catalogue".
"""
