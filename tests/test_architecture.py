"""The layout's rules, read from the code's own imports (`TYPE_CHECKING` ones included) and definitions.

DESIGN.md's layout holds only if nothing quietly breaks it: the domain stays pure, the product never leans on the
emulators, services see the store only through its ports, one door per outside system, no import circles, and
modules and listeners stay small enough to read.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "commands", "sandbox")
PRODUCT_LINES, SANDBOX_LINES, COMMAND_FUNCTION_LINES = 450, 700, 40


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted (a module of ours where one is meant, else the name as written)
    lazy: bool  # inside a function: runs only when called


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


MODULES = sources()


def _resolve(name: str) -> str:
    """The module of ours that `name` (a module or a name inside one) means, or `name` as written."""
    while name and name not in MODULES:
        if "." not in name:
            return name
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text())
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    lazy_nodes = {id(inner) for f in functions for inner in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, _resolve(alias.name), id(node) in lazy_nodes)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from the importing module's package
                package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    package = package.rsplit(".", 1)[0]
                base = f"{package}.{base}"
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(module, full if full in MODULES else _resolve(base), id(node) in lazy_nodes)


IMPORTS = [i for m in MODULES for i in imports_of(m)]


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    offenders = [f"{i.module} imports {i.target}" for i in IMPORTS if i.module.startswith("bot.domain")
                 and not (i.target.startswith("bot.domain") or top(i.target) in sys.stdlib_module_names
                          or i.target == "__future__")]
    assert offenders == []


def test_there_are_no_import_circles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in IMPORTS:
        if i.target in MODULES and i.target != i.module and not i.lazy:
            graph[i.module].add(i.target)
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert [" -> ".join(c) for c in circles] == []


def test_the_product_never_imports_the_emulators_but_the_cli_lazily() -> None:
    offenders = [f"{i.module} imports {i.target}" + (" (lazily)" if i.lazy else "") for i in IMPORTS
                 if top(i.module) in ("bot", "commands") and top(i.target) == "sandbox"
                 and not (i.module == "bot.app.cli.emulated" and i.lazy)]
    assert offenders == []


def test_services_never_import_an_adapter() -> None:
    offenders = [f"{i.module} imports {i.target}" for i in IMPORTS
                 if i.module.startswith("bot.services") and i.target.startswith("bot.adapters")]
    assert offenders == []


def test_adapters_never_import_each_other() -> None:
    """One door per outside system: the Slack adapter does not reach PagerDuty through the PagerDuty adapter."""
    def system(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if parts[:2] == ["bot", "adapters"] and len(parts) > 3 else None
    offenders = [f"{i.module} imports {i.target}" for i in IMPORTS
                 if system(i.module) and system(i.target) and system(i.module) != system(i.target)]
    assert offenders == []


def test_only_adapters_import_the_pagerduty_package() -> None:
    offenders = [f"{i.module} imports {i.target}" for i in IMPORTS
                 if top(i.target) == "pagerduty" and not i.module.startswith("bot.adapters.pagerduty")]
    assert offenders == []


def test_only_adapters_and_wiring_build_slack_web_clients() -> None:
    """Listeners get Bolt's client and hand it to the Slack adapter; nobody else makes Slack calls of their own."""
    offenders = [f"{i.module} imports {i.target}" for i in IMPORTS
                 if i.target.startswith("slack_sdk.web") and top(i.module) in ("bot", "commands")
                 and not i.module.startswith(("bot.adapters.slack", "bot.app"))]
    assert offenders == []


def test_modules_stay_small() -> None:
    too_long = []
    for module, path in MODULES.items():
        limit = SANDBOX_LINES if top(module) == "sandbox" else PRODUCT_LINES
        lines = len(path.read_text().splitlines())
        if lines > limit:
            too_long.append(f"{module}: {lines} lines (limit {limit})")
    assert too_long == []


def test_command_functions_stay_short() -> None:
    too_long = []
    for module, path in MODULES.items():
        if top(module) != "commands":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > COMMAND_FUNCTION_LINES:
                    too_long.append(f"{module}.{node.name}: {lines} lines")
    assert too_long == []


def test_the_rules_see_the_code() -> None:
    """The checks above would pass on an empty tree: make sure they read the real one."""
    assert {"bot.domain.incident", "bot.app.cli.main", "commands.table", "sandbox.world"} <= set(MODULES)
    assert any(i.module == "bot.app.cli.emulated" and top(i.target) == "sandbox" and i.lazy for i in IMPORTS)
    assert any(top(i.target) == "pagerduty" for i in IMPORTS)
