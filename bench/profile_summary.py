"""Where a process's CPU went, from a py-spy collapsed-stack profile (bench/soak.py --profile): the functions with
the most samples on top of the stack (self), and the most samples anywhere in the stack (inclusive), as shares of
all samples but those waiting (IDLE); `--only` keeps inclusive entries whose file path contains that text (e.g.
`bot/`). Native code (SQLite, fsync) counts towards the Python frame that called it. Prints JSON.

    python bench/profile_summary.py PROFILE.txt [--top 25] [--only bot/]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

# Waiting, not working: stacks ending here are left out (py-spy's --nonblocking sampling cannot always tell).
IDLE = ("EpollSelector.select (", "Condition.wait (", "Event.wait (", "Thread._wait_for_tstate_lock (")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> tuple[str, str]:
    """('function (short/path.py)', file) from py-spy's 'function (path/file.py:line)'."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), ""
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3", "wt-i16/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})", path


def summarise(text: str, top: int, only: str | None) -> dict[str, object]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";")]
        frames = [f for f in frames if f[0]]
        if frames and frames[-1][0].startswith(IDLE):
            continue
        total += count
        if frames:
            own[frames[-1][0]] += count
        for name in {name for name, path in frames if only is None or only in path}:
            inclusive[name] += count

    def shares(counter: Counter[str]) -> dict[str, float]:
        return {name: round(100 * n / total, 1) for name, n in counter.most_common(top)}
    return {"samples": total, "self_percent": shares(own), "inclusive_percent": shares(inclusive)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    print(json.dumps(summarise(args.profile.read_text(), args.top, args.only), indent=1))


if __name__ == "__main__":
    main()
