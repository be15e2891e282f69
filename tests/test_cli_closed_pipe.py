"""A reader that stops early (`pavedroad calculate | head -5`): the command ends quietly, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["calculate", "--format", "csv"], ["calculate", "--format", "json"]])
def test_a_closed_pipe_ends_the_command_without_a_traceback(command: list[str], tmp_path: Path) -> None:
    # Before: "BrokenPipeError: [Errno 32] Broken pipe" and its traceback, about one run in three behind `| head`.
    # Here the reading end is closed before the command writes, so every run meets the closed pipe.
    process = subprocess.Popen([sys.executable, "-m", "bot.app.cli.main", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read().decode()
    code = process.wait(60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
    assert code == 1  # Python's own convention for a closed pipe
