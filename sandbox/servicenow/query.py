"""ServiceNow's encoded queries (`sysparm_query`), as the Table API reads them: conditions joined by `^` (AND) and
`^OR`, alternatives by `^NQ`, `ORDERBY`/`ORDERBYDESC`, and `^^` for a literal caret. Numbers compare as numbers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

R = TypeVar("R")  # a record, however the table keeps it

_TERM = re.compile(r"^(?P<field>[a-z_][a-z0-9_.]*)"
                   r"(?P<op>ISNOTEMPTY|ISEMPTY|!=|NOT IN|IN|NOT LIKE|LIKE|STARTSWITH|ENDSWITH|>=|<=|>|<|=)"
                   r"(?P<value>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str

    def test(self, actual: str | None) -> bool:
        if actual is None:  # an unknown field
            return False
        op, value = self.op, self.value
        if op == "=":
            return actual == value
        if op == "!=":
            return actual != value
        if op in ("IN", "NOT IN"):
            return (actual in value.split(",")) == (op == "IN")
        if op in ("LIKE", "NOT LIKE"):
            return (value.lower() in actual.lower()) == (op == "LIKE")
        if op == "STARTSWITH":
            return actual.lower().startswith(value.lower())
        if op == "ENDSWITH":
            return actual.lower().endswith(value.lower())
        if op in ("ISEMPTY", "ISNOTEMPTY"):
            return (actual == "") == (op == "ISEMPTY")
        left, right = _sort_key(actual), _sort_key(value)
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]


@dataclass
class Query:
    """`a=1^ORb=2^c=3^NQd=4^ORDERBYDESCe`: alternatives joined by ^NQ, each an AND of OR-groups, then the order."""

    alternatives: list[list[list[Condition]]]
    order: list[tuple[str, bool]]  # (field, descending)

    def matches(self, value: Callable[[str], str | None]) -> bool:
        if not self.alternatives:
            return True
        return any(all(any(c.test(value(c.field)) for c in group) for group in groups)
                   for groups in self.alternatives)

    def sort(self, rows: list[R], value: Callable[[R, str], str | None]) -> list[R]:
        for field, descending in reversed(self.order):  # stable sorts, least significant key first
            keys = [_sort_key(value(r, field) or "") for r in rows]
            rows = [r for _, r in sorted(zip(keys, rows, strict=True), key=lambda pair: pair[0], reverse=descending)]
        return rows


def parse_query(text: str) -> Query:
    """Parse a `sysparm_query`. A term that is not a condition (e.g. a misspelt operator) matches nothing."""
    text = text.replace("^^", "\x00")  # a literal caret in a value
    alternatives: list[list[list[Condition]]] = []
    order: list[tuple[str, bool]] = []
    for part in text.split("^NQ"):
        groups: list[list[Condition]] = []
        for term in part.split("^"):
            term = term.replace("\x00", "^")
            if not term or term == "EQ":
                continue
            if term.startswith("ORDERBYDESC"):
                order.append((term.removeprefix("ORDERBYDESC"), True))
                continue
            if term.startswith("ORDERBY"):
                order.append((term.removeprefix("ORDERBY"), False))
                continue
            alternative = term.startswith("OR") and bool(groups)
            match = _TERM.match(term[2:] if alternative else term)
            condition = Condition(match["field"], match["op"], match["value"]) if match \
                else Condition("", "=", "")  # never true: "" is no field
            if alternative:
                groups[-1].append(condition)
            else:
                groups.append([condition])
        if groups:
            alternatives.append(groups)
    return Query(alternatives, order)


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)
