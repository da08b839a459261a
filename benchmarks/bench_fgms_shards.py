"""FGMS shard scaling: total reads/s of concurrent readers with 2 shard actors vs 1.

Eight agents (four of which `shard_for` puts on shard 0 of 2 and four on shard 1) each get the same
memories (SGD train turns, batches of 256). Then one reader thread per agent calls
`ray.get(router.read(...))` on its own agent in a loop (bench_fgms.py's read: token_budget=2048,
policy relevant, mode text, relevance hybrid, unit turn; held-out queries) for a fixed time; the
total reads/s with `--shards 1` and 2 is compared. Both layouts run in the same Ray instance
(num_cpus=2), one after the other, on fresh storage.

    .venv/bin/python benchmarks/bench_fgms_shards.py [--tape DIR] [--agents 8] [--records 2000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from bench_fgms import (READ, Workload, latency_summary, pick_agents, prepare, print_machine, queries, read_label,
                        records, start_ray)


def readers(ray, router, agents: list[str], workload: Workload, seconds: float) -> tuple[float, list[float]]:
    """Run one reader thread per agent for `seconds`; returns (reads/s in total, all latencies)."""
    from glyph_dist.fgms.schema import ReadRequest

    per_thread: list[list[float]] = [[] for _ in agents]
    start_line = threading.Barrier(len(agents) + 1)

    def read_loop(k: int, agent: str) -> None:
        qs = queries(workload, 10_000, offset=97 * k)
        start_line.wait()
        deadline = time.perf_counter() + seconds
        for q in qs:
            t = time.perf_counter()
            if t >= deadline:
                break
            ray.get(router.read(ReadRequest(actor_id=agent, query=q, **READ)))
            per_thread[k].append(time.perf_counter() - t)

    threads = [threading.Thread(target=read_loop, args=(k, a)) for k, a in enumerate(agents)]
    for t in threads:
        t.start()
    start_line.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    times = [x for thread in per_thread for x in thread]
    return len(times) / elapsed, times


def layout(ray, workload: Workload, storage: Path, shards: int, agents: list[str], n_records: int,
           seconds: float) -> float:
    """Fill and read one layout; returns its total reads/s."""
    from glyph_dist.fgms.shard import ShardRouter, shard_for

    router = ShardRouter(str(workload.tape), str(storage), shards=shards)
    try:
        ray.get(router.stats())
        start = time.perf_counter()
        for lo in range(0, n_records, 256):
            batch = [r for a in agents for r in records(workload.turns, a, lo, min(lo + 256, n_records))]
            ray.get(router.write(batch))
        filled = time.perf_counter() - start
        stats = ray.get(router.stats())
        print(f"\n-- {shards} shard{'s' if shards > 1 else ''}: {len(agents)} agents x {n_records:,} records written "
              f"in {filled:.1f} s ({len(agents) * n_records / filled:,.0f} records/s over all shards); per shard: "
              + ", ".join(f"{s['actors']} agents / {s['spans']:,} spans" for s in stats))
        print(f"   agents per shard: {[sum(shard_for(a, shards) == i for a in agents) for i in range(shards)]}")
        readers(ray, router, agents, workload, 2.0)  # warm-up
        rate, times = readers(ray, router, agents, workload, seconds)
        print(f"   {len(agents)} concurrent readers for {seconds:.0f} s: {rate:6.1f} reads/s in total; "
              f"per-read latency {latency_summary(times)}")
        return rate
    finally:
        router.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tape", type=Path, help="a tape root or version (default: build one in a temp dir)")
    parser.add_argument("--agents", type=int, default=8, help="reader threads, one agent each")
    parser.add_argument("--records", type=int, default=2000, help="memories per agent")
    parser.add_argument("--seconds", type=float, default=30.0, help="timed reading per layout")
    args = parser.parse_args()

    print_machine("bench_fgms_shards")
    with tempfile.TemporaryDirectory(prefix="fgms-bench-") as tmp:
        work = Path(tmp)
        workload = prepare(work, args.tape)
        agents = pick_agents(args.agents)
        ray = start_ray()
        try:
            rates = {shards: layout(ray, workload, work / f"shards-{shards}", shards, agents, args.records,
                                    args.seconds) for shards in (1, 2)}
        finally:
            ray.shutdown()
    print(f"\n-- summary: {args.agents} concurrent readers, {args.records:,} memories per agent, "
          f"{read_label()}")
    for shards, rate in rates.items():
        print(f"   {shards} shard{'s' if shards > 1 else ' '}: {rate:6.1f} reads/s")
    print(f"   ratio 2 shards / 1 shard: {rates[2] / rates[1]:.2f}x (2 CPUs in this Ray instance)")


if __name__ == "__main__":
    main()
