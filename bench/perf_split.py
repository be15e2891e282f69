"""Where a process's CPU goes, by thread and by kind, from a Linux `perf record -g` of it: the Python interpreter,
SQLite's engine, the C library, other native modules, and the kernel by the system call it was in (fdatasync,
futex, sendto…) or an interrupt. bench/soak.py runs it on the bot (`--perf`); it also runs on its own:

    perf record -F 999 -g -p PID -o bot.perf.data -- sleep 30
    python bench/perf_split.py bot.perf.data [--perf /usr/bin/perf]

Prints JSON: per thread ("loop" for the main thread, "store" for SQLite's thread `pavedroad-store`, else the
thread's name), its share of all samples and its kinds' shares (percent of all samples, largest first). Python 3.11
has no perf trampolines: the interpreter's frames are one kind, `libpython`; py-spy (`--profile`) says which Python.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

SYSCALL = re.compile(r"\s(?:__x64_sys_|__do_sys_)(\w+)")
INTERRUPT = ("asm_common_interrupt", "asm_sysvec", "irqentry_exit")
THREADS = {"pavedroad-store": "store", "python": "loop"}


def kind_of(frames: list[str]) -> str:
    """A sample's kind from its stack (innermost frame first)."""
    for frame in frames:
        if (call := SYSCALL.search(frame)) is not None:
            return f"kernel:{call.group(1)}"
    if not frames:
        return "unknown"
    if "[kernel.kallsyms]" in frames[0]:
        return "kernel:interrupt" if any(i in f for f in frames for i in INTERRUPT) else "kernel:other"
    library = frames[0].rsplit("(", 1)[-1].rstrip(")").rsplit("/", 1)[-1]
    for name, kind in (("libpython", "libpython"), ("libsqlite3", "sqlite"), ("libc.so", "libc")):
        if library.startswith(name):
            return kind
    return "native:" + library.split(".", 1)[0]


def split(script: str) -> dict[str, object]:
    """`perf script` output → shares by thread and kind (percent of every sample)."""
    by_thread: dict[str, Counter[str]] = defaultdict(Counter)
    for sample in script.split("\n\n"):
        lines = [line.strip() for line in sample.strip().splitlines() if line.strip()]
        if not lines:
            continue
        thread = lines[0].split()[0]
        by_thread[THREADS.get(thread, thread)][kind_of(lines[1:])] += 1
    total = sum(sum(kinds.values()) for kinds in by_thread.values())

    def share(count: int) -> float:
        return round(100 * count / max(total, 1), 1)
    return {"samples": total, "threads": {
        thread: {"share": share(sum(kinds.values())),
                 "kinds": {kind: share(count) for kind, count in kinds.most_common() if share(count) >= 0.1}}
        for thread, kinds in sorted(by_thread.items(), key=lambda item: -sum(item[1].values()))}}


def perf_split(data: Path, perf: str) -> dict[str, object]:
    script = subprocess.run([perf, "script", "-i", str(data), "-F", "comm,ip,sym,dso"], capture_output=True,
                            text=True, check=True).stdout
    return split(script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--perf", default=shutil.which("perf") or "perf")
    args = parser.parse_args()
    json.dump(perf_split(args.data, args.perf), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
