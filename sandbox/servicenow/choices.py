"""The sandbox instance's `sys_choice` rows for incident.close_code, as a release ships them, and the read ACL on the
table (the Table API serves it read-only: emulator.py).

Releases before Utah (Tokyo and older) offer "Solved (Permanently)" and its kin and no code for a duplicate; Utah and
later offer "Solution provided", "Duplicate"…, the older codes kept inactive. An instance upgraded from an older
release may keep both active (`UPGRADED`, the sandbox's default). A row per language: one code has a German label too,
as an instance with a second language installed has.
"""

from __future__ import annotations

import hashlib

from sandbox.servicenow.errors import ServiceNowError

OLD_CODES = ("Solved (Work Around)", "Solved (Permanently)", "Solved Remotely (Work Around)",
             "Solved Remotely (Permanently)", "Not Solved (Not Reproducible)", "Not Solved (Too Costly)",
             "Closed/Resolved by Caller")
NEW_CODES = ("Duplicate", "Known error", "No resolution provided", "Resolved by caller", "Resolved by change",
             "Resolved by problem", "Resolved by request", "Solution provided", "Workaround provided", "User error")
TOKYO, UTAH, UPGRADED = "tokyo", "utah", "upgraded"
GERMAN = {"Solution provided": "Lösung bereitgestellt", "Solved (Permanently)": "Gelöst (dauerhaft)"}


def close_code_rows(release: str) -> dict[str, dict[str, str]]:
    """sys_choice rows by sys_id: `release` one of TOKYO, UTAH, UPGRADED."""
    if release not in (TOKYO, UTAH, UPGRADED):
        raise ValueError(f"unknown release {release!r}: use {TOKYO!r}, {UTAH!r} or {UPGRADED!r}")
    codes = [(code, release == UTAH) for code in OLD_CODES] + ([(code, False) for code in NEW_CODES]
                                                                if release != TOKYO else [])
    rows: dict[str, dict[str, str]] = {}
    for sequence, (code, inactive) in enumerate(codes, start=1):
        for language, label in (("en", code), ("de", GERMAN.get(code))):
            if label is None:
                continue
            sys_id = hashlib.sha256(f"sys_choice:incident.close_code:{code}:{language}".encode()).hexdigest()[:32]
            rows[sys_id] = {"sys_id": sys_id, "name": "incident", "element": "close_code", "value": code,
                            "label": label, "language": language, "sequence": str(sequence * 10),
                            "inactive": "true" if inactive else "false", "dependent_value": ""}
    return rows


def refused_read() -> ServiceNowError:
    """The answer when sys_choice's read ACL refuses the integration user (a locked-down instance)."""
    return ServiceNowError(403, "Insufficient rights to query records",
                           "Field(s) present in the query do not have permission to be read")
