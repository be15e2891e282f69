"""The exception tree, in one place.

    PavedRoadError
    ├── UserError          a known reason an action did not proceed; the message is written for the person
    │   └── OutcomeUnknown the outside system may or may not have acted (no answer, a 500/502/504)
    ├── ConfigError        configuration is invalid; `problems` name each field and the fix
    ├── IntegrationError   an outside system (Slack, PagerDuty, ServiceNow) failed; adapters' calls out raise only this
    │   `retryable` says whether trying again may help; `retry_after` is the service's own advice in seconds;
    │   `rate_limited` tells a refusal for pace (429) from a failure.
    │   `credentials_refused` that the service refused our own credentials (a revoked token, a ServiceNow 401), not
    │   the call.
    ├── DeliveryError      (also a ValueError) a webhook delivery does not follow its sender's contract; the
    │   message is a one-line reason for the sender (the intake answers it with a 4xx; the worker skips the row)
    ├── ProvisioningError  `pavedroad provision` cannot go on; the message is written for the person running it
    ├── StoreUnavailable   the database cannot be reached or opened; the message names the setting and the fix,
    │   and never holds a password
    └── StoreConstraint    the store refused a write for breaking one of its rules (one ticket, one incident): the
        same write is refused every time, so the effect making it is dead, not retried as if the database were down

Adapters translate every SDK/HTTP exception into IntegrationError so that services never see a raw SDK exception.
Its text (`detail`, `code`) is made storable as it is built (bot/domain/storable.py): no lone surrogate, no NUL.
"""

from __future__ import annotations

from bot.domain.storable import storable


class PavedRoadError(Exception):
    """Base of every error this project raises on purpose."""


class UserError(PavedRoadError):
    """The action did not proceed for a reason the user can act on; `str(error)` is shown to them as written."""


class ConfigError(PavedRoadError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# IntegrationError.code of a request that never left: the connection could not be made, so the outside system did
# nothing (a retry cannot repeat anything).
NOT_SENT = "not_sent"


# Answers after which the outside system may have acted all the same: none at all (a timeout, a dropped connection),
# an internal error, a gateway's. A 429, a 503 or a 4xx say it did not; so does a connection never made (NOT_SENT).
OUTCOME_UNKNOWN_STATUSES = frozenset({None, 500, 502, 504})


class IntegrationError(PavedRoadError):
    """An outside system failed. `code` is the service's own error code (e.g. Slack's 'name_taken'), or NOT_SENT."""

    def __init__(self, service: str, detail: str, *, retryable: bool, code: str | None = None,
                 retry_after: float | None = None, status: int | None = None,
                 credentials_refused: bool = False) -> None:
        # The service's words (its message, its code) made storable here, where every outside failure enters: a lone
        # surrogate (half an emoji, from a JSON `\ud800`) or a NUL in them made the store refuse the effect's retry
        # or death, which was then never recorded (the effect stuck until its lease ran out, again at every try).
        detail = storable(detail)
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail
        self.retryable = retryable
        self.code = code if code is None else storable(code)
        self.retry_after = retry_after
        self.status = status
        # Not this call's fault: every call fails alike until someone replaces the credentials (Slack's token_revoked,
        # ServiceNow's 401).
        self.credentials_refused = credentials_refused

    @property
    def outcome_unknown(self) -> bool:
        """The request may have been carried out though it failed (see OUTCOME_UNKNOWN_STATUSES): trying again at
        once may do it twice."""
        return self.retryable and self.status in OUTCOME_UNKNOWN_STATUSES and self.code != NOT_SENT

    @property
    def rate_limited(self) -> bool:
        """The service refused the request as one too many (HTTP 429; Slack's `ratelimited`): it did nothing and
        asks the bot to slow down — pacing, not a failure (the outbox does not count it as an attempt). Other answers
        that say when to try again are failures all the same: a 503 with Retry-After is an outage, and the bot's own
        "try again at once" (retry_after=0, no status) is not the service's refusal."""
        return self.retryable and (self.status == 429 or self.code == "ratelimited")


class OutcomeUnknown(UserError):
    """An outside system failed in a way that leaves unknown whether it acted (IntegrationError.outcome_unknown): the
    person is told to look before trying again, and a repeat within seconds is not acted on (commands/repeats.py)."""


class DeliveryError(PavedRoadError, ValueError):
    """A webhook delivery that does not follow its sender's contract (PagerDuty's v3 envelope, ServiceNow's business
    rule); `str(error)` is a one-line reason, written for whoever sent it."""


class ProvisioningError(PavedRoadError):
    """Provisioning (PagerDuty's teams, schedules, policies, services; the teams' Slack channels) cannot go on; the
    message is written for the person running `pavedroad provision`."""


class StoreUnavailable(PavedRoadError):
    """The store's database cannot be reached or opened (at start, or by `pavedroad migrate`); `str(error)` is one
    line naming the setting and the fix, with any password in it replaced by ***."""


class StoreConstraint(PavedRoadError):
    """The store refused a write that breaks one of its rules (a ticket already recorded as another incident's):
    not an outage — the same write is refused again — so the effect that made it fails for good. `str(error)` says
    which record and what to look at."""
