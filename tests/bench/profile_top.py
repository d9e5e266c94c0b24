"""`python -m tests.bench.profile_top FILE [--match TEXT] [--top N]`: a py-spy profile's top.

Reads py-spy's raw output (`py-spy record -f raw`: one collapsed stack a line, then its
sample count) and prints the functions by inclusive share (the samples with the function
anywhere on the stack, each sample counted once) and by self share (the innermost frame),
so that two profiles of the same load compare item by item. With --match, only the
stacks through a frame containing TEXT, and shares of those.
"""

from __future__ import annotations

import argparse
import collections
import re
from collections.abc import Iterable
from pathlib import Path

LINE = re.compile(r" \((.*?):\d+\)$")


NO_FRAME = "(no Python frame)"


def frame_name(frame: str) -> str:
    """`Name (path/to/file.py:123)` -> `Name (path/to/file.py)`: lines differ per sample."""
    return LINE.sub(lambda m: f" ({m.group(1)})", frame.strip())


Shares = tuple[int, collections.Counter[str], collections.Counter[str]]


def shares(lines: Iterable[str], match: str = "") -> Shares:
    """(samples, inclusive, self): each function's samples anywhere on the stack (a
    sample counted once however often it recurses) and as the innermost frame."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count or (match and match not in stack):
            continue
        samples = int(count)
        # A thread with no Python frame (grpcio's own threads, the loop in C): still the
        # process's CPU, so counted in the total.
        frames = [frame_name(f) for f in stack.split(";")] if stack else [NO_FRAME]
        total += samples
        own[frames[-1]] += samples
        for name in set(frames):
            inclusive[name] += samples
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.profile_top")
    parser.add_argument("file")
    parser.add_argument("--match", default="")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    total, inclusive, own = shares(Path(args.file).read_text().splitlines(), args.match)
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for name, samples in counter.most_common(args.top):
            print(f"{100 * samples / total:6.1f} %  {name}")


if __name__ == "__main__":
    main()
