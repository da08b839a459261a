"""What a Ray actor call adds to a read: the same work in process, through `ray.get(actor.method.remote(...))`
(the FGMS shard's path today) and through a Ray Compiled Graph on the same actor.

The work stands in for an FGMS read at 100,000 memories: the actor spins for `--work-ms` (default 6.5 ms, the
core read's p50 in bench_fgms.py) and returns a response of `--items` lines of text with scores, about the size
of a read at budget 2,048. Each path makes `--calls` calls one at a time (after warm-up); the figures are
p50 / p90 / p99 and each path's excess over in-process at the same percentile.

    .venv/bin/python benchmarks/bench_ray_call.py [--work-ms 6.5] [--items 140] [--calls 400]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _machine import print_header
from bench_fgms import latencies, latency_summary, pct_ms, start_ray


def spin(seconds: float, items: int) -> dict:
    """Busy for `seconds` (a read holds the CPU), then a read-sized response."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pass
    return {"items": [{"text": f"[t{k} user] a line of about sixty characters of turn text", "score": 0.5}
                      for k in range(items)], "tokens": 2048}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-ms", type=float, default=6.5, help="(default: %(default)s)")
    parser.add_argument("--items", type=int, default=140, help="(default: %(default)s)")
    parser.add_argument("--calls", type=int, default=400, help="(default: %(default)s)")
    args = parser.parse_args()
    print_header("bench_ray_call")
    ray = start_ray()
    from ray.dag import InputNode

    @ray.remote(num_cpus=0.5)  # as an FGMS shard actor
    class Worker:
        def read(self, seconds: float) -> dict:
            return spin(seconds, args.items)

    seconds, calls = args.work_ms / 1e3, [str(k) for k in range(args.calls)]
    plain = Worker.remote()
    compiled_actor = Worker.remote()
    with InputNode() as request:
        graph = compiled_actor.read.bind(request).experimental_compile()
    paths: dict[str, Callable[[str], object]] = {
        "in process": lambda _: spin(seconds, args.items),
        "actor: ray.get(actor.read.remote)": lambda _: ray.get(plain.read.remote(seconds)),
        "actor: Compiled Graph execute": lambda _: ray.get(graph.execute(seconds)),
    }
    print(f"\n-- {args.calls} calls of {args.work_ms} ms of work returning {args.items} lines, one at a time")
    found = {name: latencies(call, calls, warmup=20) for name, call in paths.items()}
    base = found["in process"]
    for name, times in found.items():
        excess = ", ".join(f"p{q} {pct_ms(times, q) - pct_ms(base, q):+.2f}" for q in (50, 90, 99))
        print(f"   {name:36} {latency_summary(times)}; over in process: {excess} ms")
    graph.teardown()
    ray.shutdown()


if __name__ == "__main__":
    main()
