"""Hypothesis examples against a running sandbox: Hypothesis drives a plain function, so the property runs on a worker
thread and hands each example's coroutine to the test's event loop, where the sandbox and the bot live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
EXAMPLE_TIMEOUT_SECONDS = 120.0  # one example's work on the loop; a hang fails the test rather than blocking it


class OnTheLoop:
    """Runs coroutines on the loop it was made on, from the thread Hypothesis runs the property on."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=EXAMPLE_TIMEOUT_SECONDS)


async def run_property(prop: Callable[[], None]) -> None:
    """Run a Hypothesis-decorated property (no arguments left to give) off the loop, so the loop can serve it."""
    await asyncio.to_thread(prop)

