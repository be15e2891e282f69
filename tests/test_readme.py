"""The README stays the truth: its configuration table is the code's, and its first screen has the two commands."""

from __future__ import annotations

import contextlib
import io
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.app.config import VARIABLES, reference_table
from bot.catalogue import Catalogue, Exposure

README = (Path(__file__).parent.parent / "README.md").read_text()
CI = (Path(__file__).parent.parent / ".ci" / "run").read_text()


def test_configuration_reference_matches_the_code() -> None:
    assert reference_table() in README


def test_first_screen_has_the_sandbox_and_test_commands_and_ci_runs_the_same() -> None:
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make sandbox" in first_screen and "make test" in first_screen
    assert "\nmake test\n" in CI


def test_the_business_rule_in_the_readme_is_the_one_the_emulator_plays() -> None:
    from sandbox.servicenow.emulator import BUSINESS_RULE_SCRIPT
    assert BUSINESS_RULE_SCRIPT.strip() in README


def test_the_after_the_incident_catalogue_keys_are_documented_and_in_the_example() -> None:
    example = (Path(__file__).parent.parent / "bot" / "example_catalogue.yml").read_text()
    for section, key in (("channels", "archive_after"), ("timeline", "reaction"), ("review", "on_resolve")):
        assert f"| `{section}.{key}` |" in README
        assert f"\n{section}:" in example and f"\n  {key}: " in example
    assert "## After the incident" in README


def test_the_retention_key_is_documented_and_in_the_example() -> None:
    example = (Path(__file__).parent.parent / "bot" / "example_catalogue.yml").read_text()
    assert "| `retention.days` | `30` |" in README
    assert "\nretention:\n" in example and "\n  days: 30\n" in example
    assert "pavedroad_store_pruned_rows_total" in README


def test_the_migration_count_the_readme_gives_is_the_stores() -> None:
    # It said "the same twelve" and "version 12" while `pavedroad migrate` applied eighteen.
    from bot.adapters.store.postgres.migrations import MIGRATIONS as POSTGRES
    from bot.adapters.store.sqlite.migrations import MIGRATIONS as SQLITE
    assert len(SQLITE) == len(POSTGRES)
    assert f"applied migration(s) 1, 2, …, {len(SQLITE)}; the schema is now at version {len(SQLITE)}." in README


# ----- The configuration reference holds every setting the code reads, with the code's defaults -----

ROOT = Path(__file__).parent.parent
# Variables some code reads that are no setting of the bot: the XDG cache folder `report` keeps its catalogue view in
# (README, *Reports*), and a benchmark's own switch (bench/soak.py --trips).
NOT_SETTINGS = {"XDG_CACHE_HOME", "PAVED_ROAD_STORE_TRIPS"}
_ENV_READS = (r"\b(?:read|given)\([^,()]*,\s*\"([A-Z][A-Z0-9_]+)\"",  # bot/app/config.py's own readers
              r"\b(?:environ|env)\.get\(\s*\"([A-Z][A-Z0-9_]+)\"", r"\bgetenv\(\s*\"([A-Z][A-Z0-9_]+)\"",
              r"\benviron\[\s*\"([A-Z][A-Z0-9_]+)\"\s*\]")


def environment_variables_read() -> dict[str, str]:
    """Every environment variable the product (bot/, commands/, sandbox/) reads, by name → the first file reading it."""
    found: dict[str, str] = {}
    for folder in ("bot", "commands", "sandbox"):
        for module in sorted((ROOT / folder).rglob("*.py")):
            source = module.read_text()
            names = [name for pattern in _ENV_READS for name in re.findall(pattern, source)]
            # `read(env, name) for name in ("A", "B")`: names read in a loop
            for listed in re.findall(r"\bread\(\s*\w+\s*,\s*name\s*\)\s+for\s+name\s+in\s+\(([^)]*)\)", source):
                names += re.findall(r"\"([A-Z][A-Z0-9_]+)\"", listed)
            for name in names:
                found.setdefault(name, str(module.relative_to(ROOT)))
    return found


def test_every_environment_variable_the_code_reads_is_in_the_reference() -> None:
    read = environment_variables_read()
    assert {"SLACK_BOT_TOKEN", "PORT", "LOG_LEVEL", "PAVEDROAD_PUBLIC_URL", "CATALOGUE_PATH"} <= set(read)
    listed = {variable.name for variable in VARIABLES}
    missing = {name: where for name, where in read.items() if name not in listed | NOT_SETTINGS}
    assert missing == {}, "read by the code but not in README's configuration reference (bot/app/config.py)"
    assert set(read) >= NOT_SETTINGS, "no longer read: drop it from NOT_SETTINGS"


def test_the_reference_defaults_are_the_ones_the_code_falls_back_to() -> None:
    from bot.app.config import database_from_env, effect_concurrency, load_settings
    from bot.services.dispatcher import LANE_CONCURRENCY, LEASE_SECONDS

    default = {variable.name: variable.default for variable in VARIABLES}
    required = {v.name: v.example for v in VARIABLES if v.required_for_serve}
    settings = load_settings(required)
    assert settings.port == int(default["PORT"] or "")
    assert settings.log_level == default["LOG_LEVEL"]
    assert settings.applier == default["PAVEDROAD_APPLIER"]
    assert settings.slack_rate_limit_scale == float(default["SLACK_RATE_LIMIT_SCALE"] or "")
    assert settings.catalogue_path == Path(default["CATALOGUE_PATH"] or "")
    assert settings.db_path == Path(default["PAVEDROAD_DB"] or "") == database_from_env({})[1]
    # The dispatcher's own defaults, which an unset variable leaves in force, are the ones the table states.
    assert settings.lease_seconds == float(default["PAVEDROAD_LEASE_SECONDS"] or "") == LEASE_SECONDS
    assert effect_concurrency(default["PAVEDROAD_EFFECT_CONCURRENCY"] or "", []) == LANE_CONCURRENCY


def test_the_port_variable_names_every_route_the_bot_serves() -> None:
    # It left out /servicenow/webhook, which the business rule posts to on that same port.
    routes = re.findall(r"add_(?:get|post)\(\"(/[^\"]+)\"", (ROOT / "bot" / "app" / "web.py").read_text())
    assert "/servicenow/webhook" in routes
    port = next(variable for variable in VARIABLES if variable.name == "PORT")
    assert [route for route in routes if route not in port.help] == []


def catalogue_reference() -> dict[str, tuple[str, str]]:
    """The README's catalogue table: each field it names (`permissions.acknowledge` / `.note` naming two) → its
    (default, meaning) cells."""
    start = README.index("| field | default | meaning |")
    rows: dict[str, tuple[str, str]] = {}
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, default, meaning = (cell.strip() for cell in line.strip().strip("|").split(" | ", 2))
        base = ""
        for name in re.findall(r"`([^`]+)`", names):
            base = base.rsplit(".", 1)[0] + name if name.startswith(".") else name
            rows[base] = (default, meaning)
    return rows


def _section(annotation: object) -> tuple[type[BaseModel], bool] | None:
    """The catalogue section (a model) a field holds, and whether as a list of them; None for a value (an exposure,
    written as text, is one)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not Exposure:
        return annotation, False
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and arguments:
        inner = _section(arguments[0])
        return (inner[0], True) if inner else None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((found for a in arguments if a is not type(None) and (found := _section(a))), None)
    return None


def catalogue_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo, bool]]:
    """Every field of the catalogue a person may write, as the README names it (`rotas[].time_zone`), with whether it
    is a section of its own. The sandbox's seed is one row: its people and schedules are the sandbox's."""
    for name, info in model.model_fields.items():
        section = _section(info.annotation)
        yield prefix + name, info, section is not None
        if section is not None and name != "sandbox":
            yield from catalogue_fields(section[0], prefix + name + ("[]." if section[1] else "."))


def _shown(value: object) -> str:
    """A default as the README's table writes it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(map(str, value)) + "]`"
    return f"`{value}`"


def test_every_catalogue_field_is_in_the_reference() -> None:
    # exposure_bands[]'s fields were named nowhere in the table.
    reference = catalogue_reference()
    missing = []
    for key, _info, is_section in catalogue_fields(Catalogue):
        owner, _, field = key.rpartition("[].")
        if {key, key + "[]"} & set(reference) or (is_section and any(k.startswith(key + ".") for k in reference)):
            continue
        if owner and owner + "[]" in reference and f"`{field}`" in reference[owner + "[]"][1]:
            continue  # named in its list's row: `rotas[]` | … | `id`, `name`, …
        missing.append(key)
    assert missing == []


def test_the_catalogue_defaults_in_the_reference_are_the_codes() -> None:
    reference = catalogue_reference()
    # Written in words, not as a value: a mapping, a fallback on another field.
    in_words = {"servicenow.urgency", "servicenow.priority", "services[].operating_model"}
    checked = 0
    for key, info, is_section in catalogue_fields(Catalogue):
        default = info.get_default(call_default_factory=True)
        if is_section or key in in_words or default is PydanticUndefined:
            continue
        if key in reference:
            assert reference[key][0] == _shown(default), key
            checked += 1
            continue
        owner, _, field = key.rpartition("[].")
        if default not in (None, [], ()) and owner + "[]" in reference:  # in its list's row, after its name
            shown = json.dumps(list(default)) if isinstance(default, list | tuple) else _shown(default).strip("`")
            assert re.search(rf"`{field}`[^|]*?`{re.escape(shown)}`", reference[owner + "[]"][1]), key
            checked += 1
    assert checked >= 30


# ----- Every `pavedroad …` the README shows exists, with the flags it has -----

def usage(*words: str) -> str:
    """`pavedroad WORDS --help`'s usage lines (before the first blank line)."""
    from bot.app.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*words, "--help"])
    return out.getvalue().split("\n\n")[0]


def commands() -> dict[tuple[str, ...], set[str]]:
    """Each command and sub-subcommand (`history import`) → the flags it takes."""
    found: dict[tuple[str, ...], set[str]] = {}
    [top] = re.findall(r"\{([a-z,-]+)\}", usage())
    for name in top.split(","):
        text = usage(name)
        nested = re.findall(r"^usage: pavedroad [a-z-]+ \[-h\]\s+\{([a-z,-]+)\}", text)
        for words in [(name, sub) for sub in nested[0].split(",")] if nested else [(name,)]:
            found[words] = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", usage(*words))) - {"--help"}
    return found


def readme_invocations() -> list[tuple[tuple[str, ...], str]]:
    """Each `pavedroad COMMAND …` the README writes (a line continued with a backslash read whole), as the command's
    words and the rest of it up to the end of its code span or line."""
    text = README.replace("\\\n", " ")
    known = commands()
    found: list[tuple[tuple[str, ...], str]] = []
    for match in re.finditer(r"pavedroad ([a-z][a-z-]*)(?: ([a-z][a-z|-]*))?([^`\n]*)", text):
        name, second, rest = match.groups()
        if (name,) in known:
            found.append(((name,), f"{second or ''}{rest}"))
        for sub in (second or "").split("|"):
            if (name, sub) in known:
                found.append(((name, sub), rest))
    return found


def test_every_command_and_flag_the_readme_shows_exists() -> None:
    known = commands()
    assert {("serve",), ("sandbox",), ("history", "import"), ("inbox", "retry"), ("provision",)} <= set(known)
    shown = readme_invocations()
    assert {words for words, _ in shown} >= set(known) - {("history",), ("inbox",)}, "a command the README omits"
    for words, rest in shown:
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest.split(" # ")[0]))
        assert flags <= known[words], (words, flags - known[words])


def test_each_synopsis_in_the_readme_lists_every_flag_of_its_command() -> None:
    # `sandbox […]` left out --history, `provision plan|apply […]` --secrets-file, `report […]` --catalogue.
    known = commands()
    synopses = [(words, rest) for words, rest in readme_invocations() if "[--" in rest]
    assert {words for words, _ in synopses} >= {("serve",), ("sandbox",), ("provision",), ("report",)}
    for words, rest in synopses:
        assert known[words] <= set(re.findall(r"--[a-z][a-z-]*", rest)), (words, known[words])


def test_every_flag_is_in_the_readme() -> None:
    # `check-config --reference` printed the configuration table, and the README never said so.
    for words, flags in commands().items():
        for flag in flags:
            assert re.search(rf"pavedroad {' '.join(words)}[^`\n]*{flag}", README.replace("\\\n", " ")) or \
                   re.search(rf"`{flag}\b", README), (words, flag)


def test_every_flag_is_shown_with_its_own_command() -> None:
    # `migrate --db` was never written: the test above found "`--db" beside other commands (`sandbox`, `inbox`) and
    # took it as documented. Each flag must appear in a `pavedroad …` of its own command.
    shown: dict[tuple[str, ...], set[str]] = {}
    for words, rest in readme_invocations():
        shown.setdefault(words, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest.split(" # ")[0]))
    missing = {words: sorted(flags - shown.get(words, set())) for words, flags in commands().items()}
    assert {words: flags for words, flags in missing.items() if flags} == {}


def test_the_readme_sections_the_code_refers_people_to_exist() -> None:
    # `serve` said "see README, 'Configuration'": the section is "Configuration reference".
    headings = set(re.findall(r"^#+ (.+)$", README, re.M))
    cited = {(name, str(module.relative_to(ROOT))) for folder in ("bot", "commands", "sandbox")
             for module in (ROOT / folder).rglob("*.py")
             for name in re.findall(r"README, '([^']+)'", module.read_text())}
    assert len(cited) >= 4
    # A heading's words before its colon name it too ("Reports: MTTA, MTTR and revenue protection" is 'Reports').
    named = headings | {heading.split(":")[0] for heading in headings}
    assert [(name, where) for name, where in cited if name not in named] == []


def test_every_strict_xfail_the_readme_names_is_still_one() -> None:
    """A "not yet" naming a strict xfail is true while the xfail is there: once fixed (the xfail gone), the README said
    the bug was still there (found in review: the raise held against an acknowledgement, and a late responder
    request, were both fixed and both still 'not yet')."""
    paragraphs = [p for p in re.split(r"\n\s*\n", README) if "strict xfail" in p]
    cited = {path for p in paragraphs for path in re.findall(r"`(tests/[\w/]+\.py)`", p)}
    assert [path for path in sorted(cited) if "xfail(strict=True" not in (ROOT / path).read_text()] == []
