"""Where a benchmark's CPU goes, from a py-spy profile of its processes.

Record a benchmark with py-spy (``--subprocesses``, raw output; idle threads are left
out, so a sample is CPU time)::

    .venv/bin/py-spy record --subprocesses --nonblocking --rate 50 -f raw -o prof.txt -- \\
        .venv/bin/python -m bench.load_test --users 50 --chatsync-ms 250

then ``.venv/bin/python -m bench.profile_summary prof.txt [--process serve]`` prints the
samples per process, and for the chosen process the functions holding the most CPU
(inclusive: a function's samples include its callees), as Markdown for bench/results.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

PROCESS = re.compile(r'^process \d+:"(?P<cmd>[^"]*)"')
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+)(?::\d+)?\)$")
KINDS = ("aws", "idp", "serve", "baseline")


def _kind(command: str) -> str:
    words = command.split()
    if "bench.servers" in words:
        at = words.index("bench.servers")
        if at + 1 < len(words) and words[at + 1] in KINDS:
            return words[at + 1]
    return "load generator"


def _frame(raw: str) -> str:
    match = FRAME.match(raw)
    if match is None:
        return raw
    path = match["file"]
    for marker in ("site-packages/", "src/", "<frozen "):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarise(path: Path, process: str, top: int) -> list[str]:
    per_process: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        kind = "load generator"
        for frame in frames:
            match = PROCESS.match(frame)
            if match:
                kind = _kind(match["cmd"])  # the innermost process line names it
        per_process[kind] += count
        if kind != process:
            continue
        total += count
        for name in {_frame(f) for f in frames if not PROCESS.match(f)}:
            inclusive[name] += count
        leaves[_frame(frames[-1])] += count
    everything = sum(per_process.values()) or 1
    lines = ["| process | CPU samples | share |", "|---|---|---|"]
    lines += [f"| {k} | {n} | {n / everything:.0%} |" for k, n in per_process.most_common()]
    lines += ["", f"Inside {process} ({total} samples), inclusive:", "",
              "| function | share |", "|---|---|"]  # fmt: skip
    lines += [f"| `{name}` | {n / max(total, 1):.0%} |" for name, n in inclusive.most_common(top)]
    lines += ["", f"Inside {process}, self (the frame running when sampled):", "",
              "| function | share |", "|---|---|"]  # fmt: skip
    lines += [f"| `{name}` | {n / max(total, 1):.1%} |" for name, n in leaves.most_common(top)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--process", default="serve", choices=(*KINDS, "load generator"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    print("\n".join(summarise(args.profile, args.process, args.top)))


if __name__ == "__main__":
    main()
