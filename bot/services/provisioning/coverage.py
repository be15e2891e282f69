"""Where a band's working-hours rota and out-of-hours rota do not meet.

A band such as Medium puts the team on call in working hours and the product domain out of hours. The team's schedule
takes its hours from the team's rota and the domain's from the domain's rota, so when the two rotas say different
hours (or time zones) there is a daily gap nobody covers (the band's first rule is empty: PagerDuty goes straight
to the incident manager) or an overlap (both are paged). The domain's out-of-hours schedule is one for all its
teams, so provisioning cannot bend it to one team's day without moving the gap to another team: the rotas are the
place to agree, and plan says where they do not. Pure: no I/O.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.catalogue import Catalogue
from bot.services.provisioning.desired import working_hours_of

# Every Monday of a year: two time zones may change their clocks on different dates (New York and London, weeks
# apart), or one never (Europe/London and Africa/Abidjan), so hours that meet in January may not in March or July.
_REFERENCE_MONDAYS = tuple(date(2026, 1, 5) + timedelta(weeks=week) for week in range(52))
Owner = tuple[str, str]  # ("team" | "domain", id)


def cover_warnings(catalogue: Catalogue) -> list[str]:
    """One warning per team and band whose working-hours and out-of-hours rotas leave a gap or overlap."""
    pairs: dict[tuple[str, str, Owner, Owner], list[str]] = {}  # (team, band, day owner, night owner) → services
    for service in catalogue.services:
        match, team = catalogue.band_of(service), catalogue.team(service.team)
        if match is None or team is None or team.domain is None:
            continue  # no band, or no domain: desired_state reports it
        levels = (match.band.working_hours, match.band.out_of_hours)
        if "none" in levels or levels[0] == levels[1]:
            continue  # one owner, one rota: its day and night meet by construction
        day, night = (("team", team.id) if level == "team" else ("domain", team.domain) for level in levels)
        pairs.setdefault((team.id, match.band.name, day, night), []).append(service.name)
    warnings = []
    for (_, band, day, night), services in pairs.items():
        try:
            warning = _mismatch(catalogue, day, night)
        except ZoneInfoNotFoundError:
            continue  # desired_state reports the time zone
        if warning:
            warnings.append(f"on-call cover of {', '.join(services)} (band {band}): {warning}")
    return warnings


def _mismatch(catalogue: Catalogue, day: Owner, night: Owner) -> str | None:
    day_zone, day_start, day_end, day_rota = working_hours_of(catalogue, *day)
    night_zone, night_end, night_start, night_rota = working_hours_of(catalogue, *night)
    if (day_zone, day_start, day_end) == (night_zone, night_end, night_start):
        return None
    found: dict[str, int] = {}  # each finding → on how many reference days
    for monday in _REFERENCE_MONDAYS:
        tuesday = monday + timedelta(days=1)
        evening = (_at(monday, day_end, day_zone), _at(monday, night_start, night_zone))
        morning = (_at(tuesday, night_end, night_zone), _at(tuesday, day_start, day_zone))
        for (before, after), what in ((evening, "evening"), (morning, "morning")):
            if before != after:
                key = f"{'gap' if before < after else 'overlap'} {what}"
                found[key] = found.get(key, 0) + 1
    if not found:
        return None  # the same instants written in two zones (e.g. Europe/Lisbon and Europe/London)
    d, n = f"{day[0]} {day[1]!r}", f"{night[0]} {night[1]!r}"
    ends = {"evening": (f"{day_end} {day_zone}", f"{night_start} {night_zone}"),
            "morning": (f"{night_end} {night_zone}", f"{day_start} {day_zone}")}
    said = []
    for key, days in found.items():
        kind, what = key.split(" ")
        first, second = ends[what] if kind == "gap" else ends[what][::-1]
        part = "" if days == len(_REFERENCE_MONDAYS) else \
            f" during {days} week(s) a year (the two time zones change their clocks on different dates)"
        said.append(f"nobody on either rota is on call from {first} to {second}{part}, and incidents go straight to "
                    "the incident manager" if kind == "gap" else
                    f"both are on call, and both paged, from {first} to {second}{part}")
    return (f"{d} is on call {day_start}-{day_end} {day_zone} ({_where(day_rota, day)}) and {n} out of hours from "
            f"{night_start} to {night_end} {night_zone} ({_where(night_rota, night)}): on weekdays "
            + "; ".join(said) + ". Give the two rotas the same working_hours and time_zone")


def _at(day: date, clock: str, zone: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), ZoneInfo(zone))


def _where(rota: int | None, owner: Owner) -> str:
    return f"rotas[{rota}]" if rota is not None else f"no rota with `{owner[0]}: {owner[1]}`: the default hours"
