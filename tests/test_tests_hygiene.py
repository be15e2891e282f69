"""The tests keep to the product's public surface, read from their own syntax trees.

A test that reads `store._run` or sets `dispatcher._rng` pins an implementation detail: the next refactoring breaks
it though nothing a caller can see changed, and a second store (PostgreSQL) cannot run it at all. Tests go through
public seams instead (tests/helpers.py's `rows` for the database, constructor arguments, public properties), so a
name with a leading underscore is reached only on `self` or `cls`, inside the test's own helper classes.

And what tests share is defined once, where it can be found: helpers in helper modules, fixtures in a conftest.py
(never imported: pytest finds it), so no test module imports another.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
OWN_PACKAGES = ("bot", "commands", "sandbox", "tests")


def private(name: str) -> bool:
    """A single leading underscore: private by convention (dunders such as `__name__` are public protocol)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def reaches_into_privates(source: str) -> list[str]:
    """Where `source` uses another object's private name: `x._name`, `getattr(x, "_name")`, or
    `from our.module import _name`, as `line: code`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and private(node.args[1].value)):
            found.append((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
              and node.module.partition(".")[0] in OWN_PACKAGES):
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if private(a.name)]
    return [f"{line}: {code}" for line, code in sorted(found)]


def test_no_test_reaches_into_private_attributes() -> None:
    offenders = [f"{path.relative_to(TESTS.parent)}:{where}" for path in sorted(TESTS.rglob("*.py"))
                 for where in reaches_into_privates(path.read_text())]
    assert offenders == []


def shared_from_test_modules(source: str) -> list[str]:
    """Imports of another test module or of a conftest: what they share belongs in a helper module (tests/helpers.py,
    tests/e2e/sandbox_helpers.py, ...) or, for fixtures, in a conftest that pytest finds by itself."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names
                  if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith(("test_", "conftest"))]
    return [f"{line}: {name}" for line, name in sorted(found)]


def test_no_test_imports_another_test_module_or_a_conftest() -> None:
    offenders = [f"{path.relative_to(TESTS.parent)}:{where}" for path in sorted(TESTS.rglob("*.py"))
                 for where in shared_from_test_modules(path.read_text())]
    assert offenders == []


def test_the_rules_see_what_they_forbid_and_allow_what_they_should() -> None:
    forbidden = """
rows = await store._run(lambda: store._query("SELECT 1"))
d._rng = random.Random(7)
busy = getattr(sandbox.bot, "_tasks")
from bot.app.cli.main import _without_sandbox_extra
"""
    assert [line.partition(":")[0] for line in reaches_into_privates(forbidden)] == ["2", "2", "3", "4", "5"]
    allowed = """
class Receiver:
    def __init__(self) -> None:
        self._seen = []

    @classmethod
    def make(cls) -> Receiver:
        return cls._build()

name, doc = module.__name__, Receiver.__doc__
from bot.app.cli.main import SANDBOX_ONLY_PACKAGES
from os import _exit
"""
    assert reaches_into_privates(allowed) == []
    assert shared_from_test_modules("from tests.domain.test_handover import START\nimport tests.conftest\n"
                                    "from tests.helpers import rows\nfrom tests.sandbox.conftest import MakePd\n") == [
        "1: tests.domain.test_handover", "2: tests.conftest", "4: tests.sandbox.conftest"]
    assert len(list(TESTS.rglob("test_*.py"))) > 50  # the rule reads the real test tree, not an empty one
