"""Shared benchmark helpers: latency statistics and JSON output."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def summary(latencies_s: list[float], wall_s: float | None = None) -> dict[str, float]:
    ordered = sorted(latencies_s)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000

    result = {"n": len(ordered), "p50_ms": round(pct(50), 2), "p90_ms": round(pct(90), 2),
              "p99_ms": round(pct(99), 2), "max_ms": round(ordered[-1] * 1000, 2),
              "mean_ms": round(statistics.fmean(ordered) * 1000, 2)}
    if wall_s:
        result["throughput_per_s"] = round(len(ordered) / wall_s, 1)
    return result


def emit(name: str, payload: dict[str, Any]) -> None:
    print(json.dumps({"benchmark": name, "python": sys.version.split()[0], "machine": platform.machine(),
                      **payload}, indent=2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(code: str, *args: str,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int, list[str]]:
    """Run `code` (a Python program serving on the port given as its first argument) in its own process; wait for
    the line it prints when ready ("ready" and any values); return the process, its port and those values."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", code, str(port), *args], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    words = process.stdout.readline().split()
    assert words and words[0] == "ready", f"the server did not start: {words}"
    return process, port, words[1:]
