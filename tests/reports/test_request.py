"""What `/incident report` and `pavedroad report` accept: flags, dates, groupings, and the errors for the rest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.catalogue import Catalogue
from bot.services.reports.request import ReportRequestError, make_request, request_from_text


@pytest.mark.parametrize(("text", "by", "start", "end"), [
    ("", "period", None, None),                                    # the catalogue sets reports.teams_from
    ("--by team", "team", None, None),
    ("--by=service", "service", None, None),
    ("--by YEAR --from 2021-01-01", "year", datetime(2021, 1, 1, tzinfo=UTC), None),
    ("--from 2021-01-01 --to 2022-01-01 --by domain", "domain", datetime(2021, 1, 1, tzinfo=UTC),
     datetime(2022, 1, 1, tzinfo=UTC)),
    ("\u2014by team", "team", None, None),                          # a phone's dash for "--"
])
def test_flags_are_read(catalogue: Catalogue, text: str, by: str, start: datetime | None,
                        end: datetime | None) -> None:
    request = request_from_text(catalogue, text)
    assert (request.by, request.start, request.end) == (by, start, end)
    assert request.teams_from == datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("text", "message"), [
    ("team", "I don't understand `team`"),
    ("--by", "`--by` needs a value, e.g. `--by team`"),
    ("--by --from 2021-01-01", "`--by` needs a value"),
    ("--colour red", "`--colour` is not a report flag"),
    ("--by colour", "`--by colour` is not a grouping: use one of service, team, domain, year, period"),
    ("--from 01/02/2021", "`--from 01/02/2021` is not a date: write it as YYYY-MM-DD"),
    ("--from 2022-01-01 --to 2022-01-01", "is not before `--to 2022-01-01`"),
])
def test_bad_flags_say_what_to_write(catalogue: Catalogue, text: str, message: str) -> None:
    with pytest.raises(ReportRequestError) as refused:
        request_from_text(catalogue, text)
    assert message in str(refused.value)


def test_without_teams_from_the_default_is_by_year_and_period_needs_it(catalogue: Catalogue) -> None:
    bare = catalogue.model_copy(update={"reports": catalogue.reports.model_copy(update={"teams_from": None})})
    assert make_request(bare).by == "year"
    with pytest.raises(ReportRequestError, match="--teams-from YYYY-MM-DD"):
        make_request(bare, "period")
    assert make_request(bare, "period", teams_from="2021-06-01").teams_from == datetime(2021, 6, 1, tzinfo=UTC)
