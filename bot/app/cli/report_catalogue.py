"""`pavedroad report`'s catalogue: the report's view of it (bot/domain/report_catalogue.py), kept from the last time
that catalogue was validated in full, so that the next report on it starts without loading the validation (pydantic
and the catalogue's models: about 0.15 s of the command's start).

A kept view is used only when everything that made it is unchanged: the catalogue file and every file it extends,
byte for byte (the entry holds them and compares them), the code that validated it — every module loaded by then,
by path, size and modification time, as Python checks its bytecode — and the Python version. Anything else (a first
report, an edited catalogue or code, an upgrade) validates the catalogue in full, exactly as every other command
does (`load_catalogue`: a bad catalogue is refused with its problems, and nothing is kept), and keeps the new view.
The views live in $XDG_CACHE_HOME/pavedroad (default ~/.cache/pavedroad), one file per catalogue path; where that
cannot be read or written, each report validates the catalogue in full.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from datetime import date
from pathlib import Path
from typing import Any

from bot.domain.report_catalogue import ListedService, ReportCatalogue

FORMAT = 1  # the entry's layout; an entry of another is not read


def report_catalogue_at(path: Path) -> ReportCatalogue:
    """The report's view of the catalogue at `path`: the kept one when nothing that made it has changed, else from
    a full validation (CatalogueError when the catalogue is invalid), then kept."""
    entry = _entry_path(path)
    kept = _kept(entry, path) if entry is not None else None
    if kept is not None:
        return kept
    from bot.catalogue import parse_catalogue  # the full validation: pydantic loads here, and only here
    from bot.catalogue_file import read_catalogue_file
    from bot.services.reports.placement import report_catalogue

    read: dict[Path, bytes] = {}
    view = report_catalogue(parse_catalogue(read_catalogue_file(path, read), path))
    if entry is not None:
        _keep(entry, read, view)
    return view


def _entry_path(path: Path) -> Path | None:
    """Where the view of the catalogue at `path` is kept (None: nowhere to keep it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # as the XDG spec says: a relative one is ignored (and "~" did not expand)
        return None
    where = str(path.absolute())
    return Path(base) / "pavedroad" / f"report-catalogue-{zlib.crc32(where.encode()):08x}.json"


def _code() -> list[list[Any]]:
    """Every module loaded now that has a file: its path, size and modification time (nanoseconds)."""
    found = []
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str):
            try:
                stat = os.stat(name)
            except OSError:
                continue
            found.append([name, stat.st_size, stat.st_mtime_ns])
    return sorted(found)


def _keep(entry: Path, read: dict[Path, bytes], view: ReportCatalogue) -> None:
    record = {
        "format": FORMAT, "python": sys.version, "catalogue": str(next(iter(read)).absolute()),
        "files": [[str(path.absolute()), raw.decode("utf-8", "surrogateescape")] for path, raw in read.items()],
        "code": _code(),
        "view": {"teams_from": view.teams_from.isoformat() if view.teams_from else None, "rotas": dict(view.rotas),
                 "services": {pagerduty_id: [s.service, s.team, s.domain, s.exposure, s.window_minutes,
                                             s.operating_model] for pagerduty_id, s in view.services.items()}},
    }
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record), encoding="utf-8")
        partial.replace(entry)  # whole or not at all: a report reading it meanwhile sees the old entry or this one
    except OSError:
        pass  # not kept: the next report validates in full again


def _kept(entry: Path, path: Path) -> ReportCatalogue | None:
    try:
        record = json.loads(entry.read_text(encoding="utf-8"))
        if (record.get("format") != FORMAT or record["python"] != sys.version
                or record["catalogue"] != str(path.absolute())):
            return None
        for name, text in record["files"]:
            if Path(name).read_bytes() != text.encode("utf-8", "surrogateescape"):
                return None
        for name, size, mtime_ns in record["code"]:
            stat = os.stat(name)
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
                return None
        view = record["view"]
        return ReportCatalogue(
            {pagerduty_id: ListedService(*fields) for pagerduty_id, fields in view["services"].items()},
            view["rotas"], date.fromisoformat(view["teams_from"]) if view["teams_from"] else None)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none kept, or unreadable: validate in full
