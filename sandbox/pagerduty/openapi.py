"""Validation of requests to the PagerDuty emulator against PagerDuty's published OpenAPI description.

Owns loading `specs/pagerduty-rest-v2.openapi.json` (once per process: it takes a few seconds), the in-memory fixes
for the published file's defects, and turning openapi-core's findings into the short human-readable reasons PagerDuty
puts in `error.errors`. It knows nothing about the emulator's state: only whether a request is well-formed (and, for
the emulator's tests, whether an answer matches the documented response).
"""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.validation.request.exceptions import (
    InvalidParameter,
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response.exceptions import DataValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).parent / "specs" / "pagerduty-rest-v2.openapi.json"
# The spec's only server; emulator paths are mapped onto it so that openapi-core's server matching succeeds.
_SPEC_SERVER = "https://api.pagerduty.com"

# PagerDuty's own wording for the two `From` header problems clients hit most.
FROM_MISSING = "You must specify a user's email address in the \"From\" header to perform this action"
FROM_MALFORMED = "Malformed \"From\" header"


class _Request:
    """The minimal openapi-core `Request` protocol over already-read request parts."""

    def __init__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None) -> None:
        header = Headers(list(headers.items()))
        content_type = header.get("Content-Type", "")
        # The spec declares `Content-Type` as a header parameter with enum ["application/json"], which would refuse
        # "application/json; charset=utf-8": PagerDuty accepts that, so the enum check sees the bare media type.
        # openapi-core still reads the full value (charset and all) to decode the body.
        if content_type:
            header["Content-Type"] = content_type.split(";", 1)[0].strip()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)), header=header
        )
        self.method = method.lower()
        self.path = path
        self.host_url = _SPEC_SERVER
        self.content_type = content_type.lower()
        self.body = body or None


class _Response:
    """The minimal openapi-core `Response` protocol."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes | None) -> None:
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.content_type = self.headers.get("Content-Type", "").lower()
        self.data = data


class PagerDutyRequestValidator:
    """Checks a request (path relative to the API root, e.g. "/incidents/Q1/notes") against the official spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._openapi = OpenAPI.from_dict(spec)

    def errors(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None
    ) -> list[str]:
        """Every reason the real API would refuse this request, in PagerDuty's `error.errors` style."""
        request = _Request(method, path, query, headers, body)
        return [reason for error in self._openapi.iter_request_errors(request) for reason in _describe(error)]

    def validate(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None
    ) -> str | None:
        """None if the request is well-formed, else one message naming every problem."""
        reasons = self.errors(method, path, query, headers, body)
        return "; ".join(reasons) if reasons else None

    def response_errors(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None,
        status: int, response_headers: Mapping[str, str], response_body: bytes | None,
    ) -> list[str]:
        """How an answer to this request departs from the documented response (for checking the emulator)."""
        request = _Request(method, path, query, headers, body)
        response = _Response(status, response_headers, response_body)
        return [reason for error in self._openapi.iter_response_errors(request, response)
                for reason in _describe(error)]


def _describe(error: Exception) -> list[str]:
    cause = error.__cause__
    if isinstance(error, MissingRequiredParameter) and error.name == "From":
        return [FROM_MISSING]
    if isinstance(error, InvalidParameter) and error.name == "From":
        return [FROM_MALFORMED]
    if isinstance(error, ParameterValidationError):
        details = _schema_messages(getattr(cause, "schema_errors", ()))
        if not details and cause is not None:
            details = [str(cause)]
        return [f"{error}: {detail}" for detail in details] or [str(error)]
    if isinstance(error, MissingRequiredRequestBody):
        return ["A request body is required"]
    if isinstance(error, RequestBodyValidationError):
        if isinstance(cause, MediaTypeDeserializeError):
            return ["The request body is not valid JSON"]
        return _schema_messages(getattr(cause, "schema_errors", ())) or [str(error)]
    if isinstance(error, DataValidationError):
        return _schema_messages(getattr(cause, "schema_errors", ())) or [str(error)]
    if isinstance(error, SecurityValidationError):
        return ["Missing Authorization header"]
    if isinstance(error, PathNotFound | OperationNotFound):
        return ["Not Found"]
    return [str(error)]


def _schema_messages(schema_errors: Iterable[Any]) -> list[str]:
    """"incident.service: 'id' is a required property" — the JSON path first, as a developer would look for it."""
    messages = []
    for schema_error in schema_errors:
        location = ".".join(str(part) for part in getattr(schema_error, "absolute_path", ()))
        message = str(getattr(schema_error, "message", schema_error))
        messages.append(f"{location}: {message}" if location else message)
    return messages


def _patched(spec: dict[str, Any]) -> dict[str, Any]:
    """Fix, in memory, the published file's defects that would make us refuse what the real API accepts."""
    # Known defect (see specs README): a string default on an integer schema makes strict validators refuse the file.
    spec["components"]["parameters"]["sre_memories_limit"]["schema"]["default"] = 20
    # Every `*Reference` schema is `Tag/allOf/0` (id, type, summary, self, html_url: all readOnly) plus
    # `required: [type, id]`. openapi-core enforces readOnly in requests, so `{"service": {"id", "type"}}` in
    # POST /incidents — PagerDuty's own documented example — would be refused. `id` and `type` are how a client
    # names what it refers to, so they are writable; the rest stays server-generated.
    schemas = spec["components"]["schemas"]
    base = schemas["Tag"]["allOf"][0]["properties"]
    for name in ("id", "type"):
        base[name].pop("readOnly", None)
    # `IncidentBody.details` is typed object, yet the POST /incidents example (and PagerDuty's API reference) send
    # a string: accept either rather than refuse the documented request.
    schemas["IncidentBody"]["properties"]["details"].pop("type", None)
    # The change-event lists' `since`/`until` carry `pattern: "YYYY-MM-DDThh:mm:ssZ"`: documentation written where a
    # regular expression belongs, which no timestamp matches. The `format: date-time` beside it stays enforced.
    for name in ("change_since", "change_until"):
        spec["components"]["parameters"][name]["schema"].pop("pattern", None)
    return spec


@functools.cache
def load_pagerduty_validator() -> PagerDutyRequestValidator:
    """The process-wide validator (loading and checking the 2.7 MB spec takes seconds, so it happens once)."""
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    validator = PagerDutyRequestValidator(_patched(spec))
    # The spec is hundreds of thousands of objects that live as long as the process: keep them out of the garbage
    # collector's way, or every full collection walks them all and stalls the event loop (the bot shares it).
    gc.freeze()
    return validator
