"""The sandbox page's script and style sheet are package data: a wheel built from pyproject.toml carries them."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_the_sandbox_page_serves_is_in_the_wheel() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sandbox"]
    static = sorted(p.relative_to(ROOT / "sandbox").as_posix() for p in (ROOT / "sandbox/ui/static").iterdir())
    from sandbox.ui.page import STATIC

    assert sorted(f"ui/static/{name}" for name in STATIC) == static
    assert all(any(fnmatch.fnmatch(path, pattern) for pattern in patterns) for path in static), (static, patterns)
