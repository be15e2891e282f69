"""Reading a catalogue file: its YAML, composed with the file it `extends:` (if any), and `CatalogueError`, the one
error a catalogue that cannot be read or validated raises; where the bundled catalogues are. bot/catalogue.py
validates what this returns. PyYAML loads when a file is read, not with this module (a report whose catalogue view is
kept reads no YAML: bot/app/cli/report_catalogue.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import yaml


class CatalogueError(Exception):
    """The catalogue file is missing or invalid; `problems` lists each one as 'field: what is wrong and the fix'."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems

    def described(self) -> str:
        """For a person at a terminal: one problem on the line that names the file, several as a counted list."""
        if len(self.problems) == 1:
            return f"catalogue {self.path}: {self.problems[0]}"
        return f"catalogue {self.path} has {len(self.problems)} problems:" + "".join(
            f"\n  - {problem}" for problem in self.problems)


class Problems(ValueError):
    """Several problems one check of the catalogue found together (a validator raises one error): each stays its own
    entry of `CatalogueError.problems`, so the count people are told matches the list under it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def listed_twice(field: str, values: list[str], why: str) -> list[str]:
    """A problem for each value seen before, naming both positions (`teams[6].id: 'basket' is also teams[0]'s id`) so
    that either can be fixed; `field` is `section.name`, `why` says what the duplicate would do and the fix."""
    section, name = field.split(".")
    first: dict[str, int] = {}
    return [f"{section}[{i}].{name}: {value!r} is also {section}[{first[value]}]'s {name}; {why}"
            for i, value in enumerate(values) if first.setdefault(value, i) != i]


def example_catalogue_path() -> Path:
    """The bundled example catalogue, which is also the sandbox's organisation."""
    return Path(__file__).parent / "example_catalogue.yml"


def seed_catalogue_path() -> Path:
    """The example catalogue with the seed's platform added (`extends`): the services, teams and operating models
    of the seed's cost/benefit table, which `pavedroad sandbox --history` reproduces."""
    return Path(__file__).parent / "seed_catalogue.yml"


def read_catalogue_file(path: Path, read: dict[Path, bytes] | None = None) -> object:
    """The catalogue file's YAML (not yet validated), with its `extends:` applied. `read`, when given, is told each
    file read: its path as given, and exactly the bytes parsed."""
    data = _read_with_base(path, (), {} if read is None else read)
    if data is not None and not isinstance(data, dict):  # empty is an empty catalogue; a list or a word is none
        raise CatalogueError(path, ["not a catalogue: the file must be a YAML mapping (teams:, services:, …), as in "
                                    "bot/example_catalogue.yml"])
    return data


def _loader() -> type[yaml.SafeLoader]:
    import yaml

    # libyaml's parser when PyYAML was built with it (the wheels are): the same documents, read about ten times
    # faster than the pure-Python one, which was a third of `pavedroad report`'s start-up.
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


def _read_with_base(path: Path, seen: tuple[Path, ...], read: dict[Path, bytes]) -> object:
    """The file's YAML; with `extends: <file>` (relative to it), that file's read first and this one added on top:
    lists (teams, services…) are the base's then this file's, sections merge key by key, other values replace."""
    import yaml

    try:
        raw = path.read_bytes()
        read[path] = raw
        # As a text-mode read would give it: UTF-8, with universal newlines.
        data = yaml.load(raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n"), Loader=_loader())
    except FileNotFoundError:
        raise CatalogueError(path, ["file not found: give the path of your catalogue YAML file (CATALOGUE_PATH, or "
                                    "--catalogue where a command takes it)"]) from None
    except IsADirectoryError:
        raise CatalogueError(path, ["is a directory, not a file: give the path of the catalogue YAML file itself "
                                    "(CATALOGUE_PATH, or --catalogue where a command takes it)"]) from None
    except OSError as error:  # unreadable (permissions, a broken mount): said, not a traceback
        raise CatalogueError(path, [f"cannot be read ({error.strerror or error}): let the bot's user read it"]) \
            from None
    except UnicodeDecodeError as error:
        raise CatalogueError(path, [f"not UTF-8 text (byte {error.start} is 0x{error.object[error.start]:02x}): save "
                                    "it as UTF-8"]) from None
    except yaml.YAMLError as error:
        raise CatalogueError(path, [f"not valid YAML: {error}"]) from None
    if not isinstance(data, dict) or "extends" not in data:
        return data
    base_path = path.parent / str(data.pop("extends"))
    if base_path.resolve() in seen:
        raise CatalogueError(path, [f"extends: {base_path} extends this file again; a catalogue cannot extend "
                                    "itself"])
    base = _read_with_base(base_path, (*seen, path.resolve()), read)
    if not isinstance(base, dict):
        raise CatalogueError(path, [f"extends: {base_path} is not a catalogue (a YAML mapping)"])
    return _merged(base, data)


def _merged(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    def one(old: object, new: object) -> object:
        if isinstance(old, list) and isinstance(new, list):
            return [*old, *new]
        return _merged(old, new) if isinstance(old, dict) and isinstance(new, dict) else new
    return {**base, **{key: one(base.get(key), value) for key, value in extra.items()}}
