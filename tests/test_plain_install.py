"""A plain install (`pip install pavedroad`, without the `sandbox` extra) runs the bot: the sandbox's own
dependencies are an extra, no product module needs them, and `pavedroad sandbox` says in one line how to add them.

Without the extra is played by a child Python in which the sandbox-only packages cannot be imported
(`sys.modules[name] = None`, which makes `import name` fail as if it were not installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.app.cli.emulated import SANDBOX_ONLY_PACKAGES

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
HINT = re.compile(r"^pavedroad (sandbox|emulators) needs the sandbox extra: pip install 'pavedroad\[sandbox\]'")


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503), e.g. 'openapi-core>=0.19' -> 'openapi-core'."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def _without_extra(program: str, *args: str, cwd: Path,
                   missing: frozenset[str] = SANDBOX_ONLY_PACKAGES) -> subprocess.CompletedProcess[str]:
    """Run `program` in a child Python where the `missing` modules (by default the sandbox-only packages) cannot be
    imported."""
    blocked = f"import sys\nfor _name in {sorted(missing)!r}:\n    sys.modules[_name] = None\n"
    env = {k: v for k, v in os.environ.items() if k != "CATALOGUE_PATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-c", blocked + program, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


CLI = "from bot.app.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def test_the_sandbox_dependencies_are_an_extra_that_names_what_the_cli_checks_for() -> None:
    project = PYPROJECT["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = {name: {_name(r) for r in requirements} for name, requirements in project["optional-dependencies"].items()}
    assert "openapi-core" in extras["sandbox"]
    assert not extras["sandbox"] & core, "a sandbox dependency is also a core one: a plain install would pull it"
    assert not extras["sandbox"] & extras["dev"], "dev repeats the sandbox extra; `make install` installs both"
    # The packages `pavedroad sandbox` recognises as missing are exactly the extra's (import name ~ distribution).
    assert {_name(p) for p in SANDBOX_ONLY_PACKAGES} == extras["sandbox"]


def test_every_product_module_imports_without_the_sandbox_extra(tmp_path: Path) -> None:
    program = """
import importlib, pkgutil
for package in ("bot", "commands"):
    for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(module.name)
print(sorted({name.partition(".")[0] for name in sys.modules} & {"bot", "commands", "sandbox"}))
"""
    result = _without_extra(program, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['bot', 'commands']"  # all of the product imported, and never the sandbox


def test_the_bot_commands_run_without_the_sandbox_extra(tmp_path: Path) -> None:
    help_ = _without_extra(CLI, "check-config", "--help", cwd=tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert help_.stdout.startswith("usage: pavedroad check-config")
    calculated = _without_extra(CLI, "calculate", "--format", "csv", cwd=tmp_path)
    assert calculated.returncode == 0, calculated.stderr
    assert calculated.stdout.splitlines()[0].startswith("service,")


@pytest.mark.parametrize("command", [["sandbox", "--port", "0"], ["emulators", "--port", "0", "--bot-url",
                                                                   "http://127.0.0.1:9"]])
def test_sandbox_and_emulators_say_in_one_line_how_to_add_the_extra(command: list[str], tmp_path: Path) -> None:
    result = _without_extra(CLI, *command, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and HINT.match(lines[0]), result.stderr
    assert lines[0].startswith(f"pavedroad {command[0]} ")
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written (no sandbox.db)


def test_a_missing_module_that_is_not_the_sandbox_extra_is_not_hidden_behind_the_hint(tmp_path: Path) -> None:
    # The sandbox's own module missing (a broken install, a bug), not one of the extra's packages: raised as it is.
    result = _without_extra(CLI, "sandbox", "--port", "0", cwd=tmp_path, missing=frozenset({"sandbox.world"}))
    assert result.returncode == 1
    assert not any(HINT.match(line) for line in result.stderr.splitlines()), result.stderr
    assert result.stderr.splitlines()[-1].startswith("ModuleNotFoundError: import of sandbox.world halted"), \
        result.stderr
    assert list(tmp_path.iterdir()) == []
