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


def test_the_licence_is_an_spdx_expression_that_the_build_backend_reads() -> None:
    # `license = { text = ... }` made every install print setuptools' deprecation ("By 2027-Feb-18, you need to update
    # your project ... or your builds will no longer be supported"); the SPDX string needs setuptools 77 or later.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
