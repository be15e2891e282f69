"""commands/ stays thin: no function in it is over 40 lines (def line to last line, nested functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

COMMANDS = Path(__file__).parent.parent.parent / "commands"
MAX_LINES = 40


def long_functions(source: str) -> list[tuple[str, int]]:
    return [(node.name, (node.end_lineno or node.lineno) - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_LINES]


def test_no_function_in_commands_is_over_40_lines() -> None:
    modules = sorted(COMMANDS.glob("*.py"))
    assert modules
    found = {module.name: long for module in modules if (long := long_functions(module.read_text()))}
    assert found == {}


def test_the_count_runs_from_the_def_line_to_the_last_line() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))
    assert long_functions(f"def fits():\n{body}\n") == []
    assert long_functions(f"def outer():\n    def inner():\n{body.replace('    ', '        ')}\n") == [
        ("outer", MAX_LINES + 1)]
