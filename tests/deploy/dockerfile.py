"""Reading the Dockerfile and .dockerignore as Docker does, so that the tests can play the image's build without a
Docker engine: the instructions by stage (continuations joined, comments dropped), `ENV` with `$VAR` expansion, and
the build context that .dockerignore lets through (moby's pattern rules: the last matching pattern wins, `**`
crosses directories, and a pattern that matches a directory matches everything under it)."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ENV, ...
    arguments: str  # as written, continuations joined
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (`CMD ["serve"]`), or None for the shell form."""
        text = self.arguments.strip()
        if not text.startswith("["):
            return None
        parsed = json.loads(text)
        assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), self
        return parsed

    def flags_and_rest(self) -> tuple[dict[str, str], list[str]]:
        """`--name=value` flags before the arguments (COPY --from=builder, HEALTHCHECK --interval=30s), and the
        shell-split arguments after them."""
        words = shlex.split(self.arguments)
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words

    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """A HEALTHCHECK's flags and the exec form of its CMD."""
        assert self.keyword == "HEALTHCHECK", self
        flags = dict(re.findall(r"--([\w-]+)=(\S+)\s+", self.arguments))
        command = re.sub(r"^(--[\w-]+=\S+\s+)*", "", self.arguments)
        keyword, _, rest = command.partition(" ")
        form = Instruction(keyword.upper(), rest.strip(), self.line).exec_form()
        assert keyword.upper() == "CMD" and form, f"line {self.line}: HEALTHCHECK CMD [\"…\"] (the exec form)"
        return flags, form


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        [found] = self.all(keyword)
        return found

    def env(self, start: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment after this stage's ENV lines, starting from `start`."""
        env = dict(start or {})
        for instruction in self.all("ENV"):
            apply_env(instruction, env)
        return env


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions: a line ending in a backslash continues on the next; comment lines and blank
    lines are dropped, also inside a continuation (as Docker does)."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].rstrip())
            continue
        pending.append(stripped)
        keyword, _, arguments = " ".join(pending).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, f"the Dockerfile ends inside a continuation started on line {start}"
    return found


def stages(text: str) -> list[Stage]:
    result: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            _, words = instruction.flags_and_rest()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            result.append(Stage(words[0], name))
        else:
            assert result, f"line {instruction.line}: {instruction.keyword} before the first FROM"
            result[-1].instructions.append(instruction)
    return result


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(text: str, env: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: env.get(m[1] or m[2], ""), text)


def apply_env(instruction: Instruction, env: dict[str, str]) -> None:
    """`ENV A=1 B=$A`: each value expanded with the environment as it was before the line (Docker's rule)."""
    before = dict(env)
    for word in shlex.split(instruction.arguments):
        name, equals, value = word.partition("=")
        assert equals, f"line {instruction.line}: write ENV as NAME=value (the legacy `ENV NAME value` is not read)"
        env[name] = expand(value, before)


@dataclass(frozen=True)
class DockerIgnore:
    patterns: tuple[tuple[bool, re.Pattern[str]], ...]  # (an exception `!pattern`, the pattern as a regex)

    @classmethod
    def read(cls, text: str) -> DockerIgnore:
        patterns = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            patterns.append((exception, re.compile(_regex(pattern))))
        return cls(tuple(patterns))

    def excludes(self, relative: str) -> bool:
        """Whether the file or directory at `relative` (a POSIX path inside the context) stays out of the build."""
        parts = relative.split("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        excluded = False
        for exception, pattern in self.patterns:
            if any(pattern.fullmatch(candidate) for candidate in candidates):
                excluded = not exception
        return excluded

    def may_let_in_below(self, directory: str) -> bool:
        """Whether some exception could let in a file below `directory`, though it is excluded itself."""
        return any(exception and (pattern.pattern.startswith("(?:.*/)?") or pattern.pattern.startswith(
            re.escape(directory.split("/")[0]))) for exception, pattern in self.patterns)


def _regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def context_files(root: Path, ignore: DockerIgnore) -> Iterator[str]:
    """The files of the build context at `root` that .dockerignore lets through, as POSIX paths inside it."""
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        subdirectories[:] = sorted(d for d in subdirectories
                                   if not ignore.excludes(prefix + d) or ignore.may_let_in_below(prefix + d))
        for name in sorted(files):
            if not ignore.excludes(prefix + name):
                yield prefix + name
