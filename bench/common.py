"""Shared benchmark helpers: latency statistics and JSON output."""

from __future__ import annotations

import json
import platform
import statistics
import sys
from typing import Any


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
