"""The dispatcher's retry policy: when an effect that failed is tried again, when it is given up on (dead), and what
the operators' alert then says.

A failure counts as an attempt: after `max_attempts` of them (or at once, for an error retrying cannot fix) the effect
is dead — unless its policy outlasts outages (`retried_for_seconds`: Slack's effects under the bot's own policy, a
handover post through its grace), when an outage's failures go on being tried, every half to whole `max_seconds`,
until that long after it was queued (a bug of the bot's own does not: `Failure.outage`; nor does one request the
service fails every time while it takes the other queues' effects: `others_taken`, bot/services/lane_answers.py).
A refusal for rate limiting
does not count (IntegrationError.rate_limited: the service answered 429, "too many requests", and did nothing):
nothing is wrong but the pace, so the effect waits as the service said (Retry-After, PagerDuty's ratelimit-reset) and
tries again, however many times. In an incident storm Slack, PagerDuty
and ServiceNow may refuse one effect a dozen times in a row; when each refusal counted, effects died and the operators
were alerted though nothing had failed. Time bounds it instead (`rate_limited_seconds`), so that a service that never
stops refusing still ends in an alert, one that says so.

A refusal of our own credentials does not count either (IntegrationError.credentials_refused: Slack no longer accepts
the bot's token — revoked, the app uninstalled —, or ServiceNow its integration user's — a password expired or
changed, the user locked out: HTTP 401), and nothing bounds it: the effect is not at fault, and the same call goes
through once a person has put good credentials in place, however long that takes. The operators are told already, at
once and in plain words (an ERROR line, /readyz's `slack` or `servicenow`, the pavedroad_slack_token_refused or
pavedroad_servicenow_credentials_refused gauge; for ServiceNow, one alert in their channel), and that system's lane
is paused meanwhile (the dispatcher's `paused`): the effect waits, and is done as soon as the credentials are
accepted. Parking it dead after some time would lose the incident's channel, card and lines (or its ticket) just as
the admin mends the credentials, and tell the operators nothing they did not know. (It used to spend an attempt: one
refused on its last attempt was parked dead.) Its next try backs off by every try it has had, refused ones included,
up to `max_seconds`: should a service refuse the credentials on some calls while it accepts them on others (Slack's
auth.test, ServiceNow's watch), the effect is asked again every few minutes at most, not at once and for ever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.domain.alert_text import shown_error
from bot.domain.effects import Effect
from bot.errors import IntegrationError
from bot.ports.store import OutboxRow
from bot.render.format import clip, escape

# 2 ** this is still a float (its largest is about 2 ** 1024), whatever base_seconds multiplies it.
_MAX_EXPONENT = 1000

SERVICE_NAMES = {"slack": "Slack", "pagerduty": "PagerDuty", "servicenow": "ServiceNow"}


@dataclass(frozen=True)
class Failure:
    """How an attempt failed: what the logs, the outbox and the alert say (`error`), whether trying again may help,
    the service's own advice in seconds, and — for a refusal for rate limiting, or of our credentials — the service
    that refused."""

    error: str
    retryable: bool
    retry_after: float | None = None
    rate_limited_by: str | None = None
    # The service that refused our own credentials (Slack: the bot's token; ServiceNow: its integration user's), not
    # the call: no attempt, never dead.
    credentials_refused_by: str | None = None

    # What failed, as alerts of one cause are grouped by: the service and its error code (else its HTTP status); a
    # ServiceNow 403 also by what refused it, when its error says (`_refusal_kind`: each has its own advice).
    cause: str = "unknown"
    # A bug of the bot's own (an unexpected exception): the dispatcher retries it, but no wait mends it.
    unexpected: bool = False

    @property
    def outage(self) -> bool:
        """Whether the failure may pass as an outage does (a 5xx, no answer): retryable, and no bug of the bot's."""
        return self.retryable and not self.unexpected

    @classmethod
    def of(cls, error: IntegrationError) -> Failure:
        what = "rate_limited" if error.rate_limited else error.code or error.status or "failed"
        if error.service == "servicenow" and str(what) == "403" and (kind := _refusal_kind(str(error))):
            what = f"403:{kind}"  # each kind has its own advice, and its own alert in the channel
        return cls(str(error), error.retryable or error.credentials_refused, error.retry_after,
                   error.service if error.rate_limited else None,
                   error.service if error.credentials_refused else None, cause=f"{error.service}:{what}")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    # How long an effect may go on being refused for rate limiting (from its first refusal) before it is dead. An
    # hour: Slack's limits are per minute, so a storm's refusals let an effect through within minutes; a service
    # still refusing after an hour is not pacing the bot but stuck (another app spending the same budget, a limit
    # set too low, a loop), which a person must look at, and a channel or card an hour late is of little use.
    # Meanwhile the effect holds up only its own queue. (ServiceNow's rate limit rules count per hour: its lane's
    # patient policy, bot/app/runtime.py, waits as long for a refusal as for an outage.)
    rate_limited_seconds: float = 3600.0
    # How long after it was queued an effect whose failures may pass (an outage) is still retried once its
    # `max_attempts` are spent: 0, not at all. A handover post is news for as long as a missed handover is still
    # posted (2 hours): Slack down at a shift change for longer than the attempts' few minutes must not lose it.
    retried_for_seconds: float = 0.0
    # The same for Slack's effects (`for_slack`): an incident triggered while Slack answers 503 still gets its
    # channel, card and lines once Slack is back, rather than a dead effect after the attempts' few minutes (its later
    # events would open the channel again, but a quiet incident has none). The bot's default policy (PRODUCTION)
    # outlasts an hour's outage; a policy made without it gives up after its attempts, as before. One request failing
    # alone while Slack takes the others' is no outage (`retry_at`'s `others_taken`): it gives up after its attempts.
    slack_outage_seconds: float = 0.0

    def lasting(self, span: timedelta) -> RetryPolicy:
        """This policy, retrying an outage's failures for `span` after the effect was queued, attempts spent or not."""
        return replace(self, retried_for_seconds=span.total_seconds())

    def for_slack(self) -> RetryPolicy:
        """This policy for Slack's effects: their retryable failures retried for `slack_outage_seconds`."""
        return replace(self, retried_for_seconds=max(self.retried_for_seconds, self.slack_outage_seconds))

    def patient(self) -> RetryPolicy:
        """This policy for what outlasts outages of minutes to hours (ServiceNow's; a channel's archiving, queued once
        per resolve): capped backoff for about 12 hours before giving up, and as long while refused for rate limiting
        (ServiceNow's rate limit rules count per hour)."""
        return replace(self, max_attempts=max(self.max_attempts, 300),
                       rate_limited_seconds=max(self.rate_limited_seconds, 12 * 3600.0))

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return retry_after + rng.uniform(0, 0.25)
        # The exponent held to what a float holds: a token's refusals are unbounded (no max_attempts), and 2 ** 1024
        # seconds, made a float, is an OverflowError (long past max_seconds anyway).
        return rng.uniform(0, min(self.max_seconds, self.base_seconds * 2 ** min(attempt, _MAX_EXPONENT)))

    def retry_at(self, row: OutboxRow, failure: Failure, now: float, rng: random.Random,
                 others_taken: bool = False) -> float | None:
        """When to try `row`'s effect again after `failure` (its attempt now), or None: it is dead. A refusal for rate
        limiting is not an attempt: it waits as the service said (else backs off by the refusals) until the effect
        has been refused for `rate_limited_seconds`. Nor is a refusal of our credentials, which is never dead.
        `others_taken`: the service took the other queues' effects while this one failed (bot/services/
        lane_answers.py), so its failures are this request's, not an outage's: not outlasted past its attempts."""
        if failure.credentials_refused_by is not None:
            return now + self.delay(counted_attempt(row) + row.credentials_refusals, failure.retry_after, rng)
        if failure.rate_limited_by is not None:
            if now - rate_limited_since(row, now) >= self.rate_limited_seconds:
                return None
            return now + self.delay(row.rate_limits + 1, failure.retry_after, rng)
        attempt = counted_attempt(row)
        if failure.retryable and attempt < self.max_attempts:
            return now + self.delay(attempt, failure.retry_after, rng)
        # Past its attempts, only an outage's failures go on (`retried_for_seconds`): a bug, or one request the service
        # refuses while it takes all else, would hold its queue. Every half to whole `max_seconds`, however soon the
        # service asked to be tried again: an hour of one-second retries for every waiting effect would hammer it as
        # it recovers.
        if failure.outage and not others_taken and now - row.created_at < self.retried_for_seconds:
            return now + max(self.max_seconds * rng.uniform(0.5, 1.0), failure.retry_after or 0.0)
        return None


# The bot's own policy, unless one is given (tests give theirs): an hour's Slack outage loses no channel or line.
PRODUCTION = RetryPolicy(slack_outage_seconds=3600.0)


def counted_attempt(row: OutboxRow) -> int:
    """The number of the attempt `row` was claimed for, the refusals (for rate limiting, of our credentials) before it
    not counted."""
    return row.attempts + 1 - row.rate_limits - row.credentials_refusals


def retry_outcome(failure: Failure) -> str:
    """pavedroad_effects_total's outcome for an attempt ended by `failure`, to be tried again."""
    if failure.credentials_refused_by is not None:
        return "credentials_refused"
    return "rate_limited" if failure.rate_limited_by is not None else "retry"


def retrying_as(row: OutboxRow, failure: Failure, now: float) -> str:
    """What the log says of `row`'s attempt that ended in `failure`, to be tried again."""
    if failure.credentials_refused_by is not None:
        name = SERVICE_NAMES.get(failure.credentials_refused_by, failure.credentials_refused_by)
        return (f"refused: {name} does not accept the bot's credentials (not counted as an attempt; it waits until"
                " they are accepted)")
    if failure.rate_limited_by is not None:
        return f"rate-limited (refused for {now - rate_limited_since(row, now):.0f}s so far)"
    return f"failed (attempt {counted_attempt(row)})"


def rate_limited_since(row: OutboxRow, now: float) -> float:
    """When `row`'s effect was first refused for rate limiting since it last failed otherwise (`now`, for a first
    refusal now): a run of refusals ends when the service answers otherwise (the dispatcher's `failed`), so one refusal
    before a long outage does not make the first after it the last."""
    return row.rate_limited_since if row.rate_limited_since is not None else now


def dead_alert(row: OutboxRow, failure: Failure, now: float, others_taken: bool = False) -> str:
    """The operators' alert for `row`'s effect, dead after `failure`: the effect's own, else the generic one; for a
    refusal for rate limiting, how long the service refused it and what to check; for one request failing as in an
    outage while the service took the others (`others_taken`), that it was no outage. The service's error text is
    shown as it is (`shown_error`: escaped, in code): whatever it holds, it pings nobody and links nowhere."""
    effect, attempt = row.effect, counted_attempt(row)
    if failure.rate_limited_by is not None:
        return _rate_limited_alert(effect, _subject(row), failure.rate_limited_by, rate_limited_since(row, now), now,
                                   failure.error)
    alert = effect.dead_alert(attempt, failure.error) or (
        f"🚨 Paved Road could not {_what(effect)} for {_subject(row)} after {attempt} "
        f"attempt(s): {shown_error(failure.error)}. {_advice(effect, failure.cause, failure.error)}")
    if others_taken and failure.outage:
        name = SERVICE_NAMES.get(effect.system, effect.system)
        alert += (f" {name} took the bot's other calls meanwhile and fails this one request every time: no outage, "
                  "so it was given up after its attempts rather than retried for as long as an outage is, with "
                  "everything queued behind it waiting.")
    return alert


def _advice(effect: Effect, cause: str, error: str = "") -> str:
    """What the operators can do about a dead effect, as far as its cause (and, for a ServiceNow 403, its error's
    words) says."""
    if cause.startswith("servicenow:403"):
        return _servicenow_refusal_advice(error)
    if cause == "store:constraint":
        return ("It is not retried: the store would refuse it again. Until someone links the incident to a ticket of "
                "its own in ServiceNow (correlation_id), its timeline stays in Slack and PagerDuty.")
    if effect.system != "slack":
        return "Check the bot's logs and /readyz."
    return ("Check the bot's logs and /readyz; an incident channel that could not be opened is tried again at the "
            "next card refresh.")


def _refusal_kind(error: str) -> str:
    """Which of the instance's guards a ServiceNow 403 names in its error body: an ACL (`ACL Exception …`), a data
    policy (`Data Policy Exception: … mandatory: …`) or a business rule aborting the write; "" when it names none."""
    said = error.lower()
    for words, kind in (("data policy", "data-policy"), ("business rule", "business-rule"), ("acl exception", "acl")):
        if words in said:
            return kind
    return ""


def _servicenow_refusal_advice(error: str) -> str:
    """A ServiceNow 403 (not the credentials: a 401 waits, it never kills) refuses this one call, for what its error
    body says (`_refusal_kind`). Only an ACL's is mended by roles (found in review: a data policy's refusal sent the
    operators after the `itil` role)."""
    later = " Meanwhile update the ticket by hand if it matters."
    kind = _refusal_kind(error)
    if kind == "data-policy":
        return ("A ServiceNow data policy refused the bot's write (HTTP 403: a field it makes mandatory, or one it "
                "makes read-only, is named in the error): ask a ServiceNow admin to let the integration user's "
                "writes through that data policy (or to relax it for API writes), or tell the platform team which "
                "field the bot should fill." + later)
    if kind == "business-rule":
        return ("A business rule of your ServiceNow instance aborted the bot's write (HTTP 403; its name is in the "
                "error): ask a ServiceNow admin what it checks, and to let the integration user's updates through."
                + later)
    advice = ("ServiceNow's access controls refuse the bot's integration user this (HTTP 403: an ACL on the incident "
              "table or one of its fields): give the user the `itil` role, or ask a ServiceNow admin which ACL refused "
              "it (System Logs shows it).")
    if kind != "acl":
        advice += " (The error does not say an ACL: a data policy or business rule of the instance may be the cause.)"
    return advice + later


def _rate_limited_alert(effect: Effect, subject: str, service: str, since: float, now: float, error: str) -> str:
    name = SERVICE_NAMES.get(service, service)
    started = datetime.fromtimestamp(since, UTC).strftime("%H:%M UTC")
    return (f"🚨 Paved Road gave up trying to {_what(effect)} for {subject}: {name} "
            f"refused it as rate-limited (HTTP 429, \"too many requests\") for {_duration(now - since)}, since "
            f"{started} ({shown_error(error)}). {name} was not down, but the bot was asking more of it than it "
            f"allows for that long: check what spends the same {name} budget (an incident storm, another app or "
            f"script using the bot's {name} credentials, a rate limit lowered in {name}), and "
            "pavedroad_effects_total{outcome=\"rate_limited\"} in /metrics. Do by hand what it could not do if it "
            "still matters; an incident channel that could not be opened is tried again at the next card refresh.")


def _subject(row: OutboxRow) -> str:
    """Whom or what the effect was for, as people know it: its incident by number and title when its claim read the
    incident (the operators find "#1234" in Slack and PagerDuty; an id they must look up), else the effect's own."""
    effect = row.effect
    incident = row.found.incident if row.found is not None else None
    if incident is None or type(effect).subject is not Effect.subject:  # a rota's, a person's: their own words
        return effect.subject()
    title = escape(clip(" ".join(incident.title.split()), 80))
    return f"incident #{incident.number} ({title}; {escape(incident.id)})"


def _what(effect: Effect) -> str:
    return effect.kind.replace("_", " ")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}" if minutes < 120 else f"{minutes / 60:.1f} hours"
