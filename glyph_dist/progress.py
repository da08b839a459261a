"""Step-by-step progress lines for long commands, on standard error."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Steps:
    """Prints `[i/n] what ... done in 1.2 s` for each step of a pipeline."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.done, self.quiet = total, 0, quiet
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.done += 1
        if not self.quiet:
            print(f"[{self.done}/{self.total}] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        if not self.quiet:
            print(f"      {name}: {self.timings[name]:.1f} s", file=sys.stderr, flush=True)
