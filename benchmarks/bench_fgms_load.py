"""FGMS under load: concurrent HTTP clients mixing reads and batched writes, 1 shard vs 2.

For each layout (`--shards`, default 1 then 2) `glyph-dist fgms serve` runs in its own process with
its own local Ray instance (`--address local`), as the README starts it, on fresh storage. It is
preloaded over HTTP with `--preload` memories (SGD train turns, batches of 512) spread over one agent
per client (the agents split evenly over the shards of the largest layout). One client alone then
reads (`--solo-reads`) for a reference latency. Then `--clients` threads, each with its own
`MemoryClient` and agent, loop for `--seconds`: with probability `--read-share` a read
(bench_fgms.py's read: token_budget=2048, policy relevant, mode text, relevance hybrid, unit turn;
held-out SGD user turns), else a write of a batch of
`--batch` new records of its agent.

Reported per layout: throughput (reads/s, write batches/s, records/s), p50/p99 latency per operation
as a client sees it, errors by kind (a non-2xx answer or any exception; a stored count that differs
from the preload plus the acknowledged writes; a health that is not ok), and /memory/health after
the run; then a table of the layouts. Target: no errors. The script exits 1 if any occurred.

    .venv/bin/python benchmarks/bench_fgms_load.py [--tape DIR] [--clients 8] [--seconds 60] [--shards 1,2]
        [--read-share 0.5] [--batch 10] [--preload 20000] [--solo-reads 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

from bench_fgms import (READ, Workload, batches, free_port, latencies, latency_summary, pct_ms, pick_agents, prepare,
                        print_machine, queries, read_label, records)

START_TIMEOUT_S, STOP_TIMEOUT_S = 300.0, 120.0
_STATUS = re.compile(r" -> (\d{3}): ")


@dataclass
class ClientLog:
    """What one client saw: latencies (s) of successful operations, records acknowledged, errors."""
    reads: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    records: int = 0
    errors: Counter = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # one message per error kind

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, message[:300])


@dataclass
class Result:
    shards: int
    solo_read_p50_ms: float
    elapsed: float
    log: ClientLog  # all clients together, plus the checks after the run


def error_kind(operation: str, exc: Exception) -> str:
    """`operation: HTTP <status>` for an answer >= 400, else `operation: <exception type>` (the cause's
    type when the client wraps a transport error)."""
    status = _STATUS.search(str(exc))
    return f"{operation}: HTTP {status.group(1)}" if status else f"{operation}: {type(exc.__cause__ or exc).__name__}"


@contextmanager
def memory_service(tape: Path, storage: Path, shards: int, log: Path) -> Iterator[str]:
    """`glyph-dist fgms serve` in its own process and session with its own local Ray instance;
    yields its URL once /memory/health answers, and stops it with SIGINT (as Ctrl-C would) after."""
    from glyph_dist.errors import GlyphDistError
    from glyph_dist.fgms.client import MemoryClient

    port = free_port()
    command = [str(Path(sys.executable).with_name("glyph-dist")), "fgms", "serve", "--tape", str(tape),
               "--shards", str(shards), "--storage", str(storage), "--port", str(port), "--address", "local"]
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    client = MemoryClient(url, timeout=10)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}; its log:\n{log.read_text()[-3000:]}")
            if time.perf_counter() - start > START_TIMEOUT_S:
                raise RuntimeError(f"the service did not answer within {START_TIMEOUT_S:.0f} s; see {log}")
            try:
                client.health()
                break
            except GlyphDistError:
                time.sleep(0.5)
        print(f"   `glyph-dist fgms serve --shards {shards}` answered after {time.perf_counter() - start:.1f} s "
              f"(pid {process.pid}, {url})")
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            print(f"   the service (pid {process.pid}) ignored SIGINT for {STOP_TIMEOUT_S:.0f} s and was killed")


def preload(url: str, workload: Workload, agents: list[str], total: int) -> list[int]:
    """Write `total` memories spread over `agents` (agent-interleaved, batches of 512); returns each
    agent's count."""
    from glyph_dist.fgms.client import MemoryClient
    from glyph_dist.fgms.schema import MAX_BATCH

    counts = [total // len(agents) + (k < total % len(agents)) for k in range(len(agents))]
    per_agent = [records(workload.turns, agent, 0, n) for agent, n in zip(agents, counts)]
    interleaved = [x[i] for i in range(max(counts)) for x in per_agent if i < len(x)]
    client = MemoryClient(url)
    start = time.perf_counter()
    for batch in batches(interleaved, MAX_BATCH):
        client.write(batch)
    seconds = time.perf_counter() - start
    print(f"   preload: {total:,} memories of {len(agents)} agents in {seconds:.1f} s ({total / seconds:,.0f} records/s)")
    return counts


def client_loop(url: str, workload: Workload, agent: str, next_record: int, k: int, seed: int, read_share: float,
                batch: int, seconds: float, start_line: threading.Barrier, log: ClientLog) -> None:
    """One client: reads and write batches of its own agent until `seconds` have passed."""
    from glyph_dist.fgms.client import MemoryClient

    client, rng = MemoryClient(url), random.Random(seed * 1_000_003 + k)
    questions = cycle(queries(workload, len(workload.queries), offset=97 * k))
    start_line.wait()
    deadline = time.perf_counter() + seconds
    while (start := time.perf_counter()) < deadline:
        operation = "read" if rng.random() < read_share else "write"
        try:
            if operation == "read":
                client.read(agent, next(questions), **READ)
                log.reads.append(time.perf_counter() - start)
            else:
                written = client.write(records(workload.turns, agent, next_record, next_record + batch))
                log.writes.append(time.perf_counter() - start)
                log.records += written.written
                next_record += batch
        except Exception as exc:  # noqa: BLE001 - every failure is counted, by kind
            log.error(error_kind(operation, exc), str(exc))


def run_clients(url: str, workload: Workload, agents: list[str], counts: list[int], args) -> tuple[float, ClientLog]:
    """All clients at once; returns (seconds from the start line to the last client's end, their merged log)."""
    logs = [ClientLog() for _ in agents]
    start_line = threading.Barrier(len(agents) + 1)
    threads = [threading.Thread(target=client_loop, args=(url, workload, agent, counts[k], k, args.seed,
                                                          args.read_share, args.batch, args.seconds, start_line,
                                                          logs[k]))
               for k, agent in enumerate(agents)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    merged = ClientLog()
    for log in logs:
        merged.reads += log.reads
        merged.writes += log.writes
        merged.records += log.records
        merged.errors += log.errors
        for kind, message in log.samples.items():
            merged.samples.setdefault(kind, message)
    return elapsed, merged


def check_after(url: str, expected_records: int, log: ClientLog) -> None:
    """Health and stored count after the run; a failed check is an error of its own kind."""
    from glyph_dist.fgms.client import MemoryClient

    client = MemoryClient(url)
    try:
        health = client.health()
        print(f"   /memory/health after the run: {json.dumps(health)}")
        if health.get("status") != "ok":
            log.error("health after: not ok", json.dumps(health))
    except Exception as exc:  # noqa: BLE001
        log.error(error_kind("health after", exc), str(exc))
    try:
        stored = client.stats()["records"]
        ok = stored == expected_records
        print(f"   stored: {stored:,} records; preload + acknowledged writes = {expected_records:,}: "
              f"{'equal' if ok else 'DIFFERENT'}")
        if not ok:
            log.error("stored count", f"{stored} stored, {expected_records} expected")
    except Exception as exc:  # noqa: BLE001
        log.error(error_kind("stats after", exc), str(exc))


def layout(workload: Workload, work: Path, shards: int, agents: list[str], args) -> Result:
    """Start a service with `shards` shards, preload it, time one client's reads, then load it."""
    from glyph_dist.fgms.client import MemoryClient
    from glyph_dist.fgms.shard import shard_for

    print(f"\n-- {shards} shard{'s' if shards > 1 else ''}: agents per shard "
          f"{[sum(shard_for(a, shards) == i for a in agents) for i in range(shards)]}")
    with memory_service(workload.tape, work / f"storage-{shards}", shards, work / f"serve-{shards}.log") as url:
        counts = preload(url, workload, agents, args.preload)
        solo = MemoryClient(url)
        times = latencies(lambda q: solo.read(agents[0], q, **READ), queries(workload, args.solo_reads, offset=7))
        print(f"   one client alone, {len(times)} reads of {agents[0]}: {latency_summary(times)}")
        elapsed, log = run_clients(url, workload, agents, counts, args)
        print(f"   {len(agents)} clients for {args.seconds:.0f} s ({elapsed:.1f} s to the last answer), "
              f"reads {args.read_share:.0%}, write batches of {args.batch} records:")
        for name, ops in (("read", log.reads), ("write batch", log.writes)):
            if ops:
                print(f"     {name:<12} {len(ops) / elapsed:7.1f}/s  {latency_summary(ops)}")
            else:
                print(f"     {name:<12} none completed")
        print(f"     records written: {log.records:,} ({log.records / elapsed:,.0f}/s)")
        check_after(url, args.preload + log.records, log)
    return Result(shards, pct_ms(times, 50), elapsed, log)


def print_errors(log: ClientLog) -> None:
    if not log.errors:
        print("   errors: none")
    for kind, count in sorted(log.errors.items()):
        print(f"   errors: {count:,} x {kind}, e.g. {log.samples[kind]!r}")


def summary(results: list[Result], args) -> None:
    print(f"\n-- summary: {args.clients} clients for {args.seconds:.0f} s, reads {args.read_share:.0%} "
          f"({read_label()}), write batches of {args.batch} "
          f"records, {args.preload:,} memories preloaded")
    header = ("shards", "reads/s", "read p50", "read p99", "batches/s", "records/s", "write p50", "write p99",
              "errors", "1-client read p50")
    print("   " + "  ".join(f"{h:>10}" for h in header))
    for r in results:
        log, t = r.log, r.elapsed

        def ms(times: list[float], q: float) -> str:
            return f"{pct_ms(times, q):.1f} ms" if times else "-"

        row = (r.shards, f"{len(log.reads) / t:.1f}", ms(log.reads, 50), ms(log.reads, 99), f"{len(log.writes) / t:.1f}",
               f"{log.records / t:,.0f}", ms(log.writes, 50), ms(log.writes, 99), sum(log.errors.values()),
               f"{r.solo_read_p50_ms:.1f} ms")
        print("   " + "  ".join(f"{str(v):>10}" for v in row))
    by_shards = {r.shards: r for r in results}
    if 1 in by_shards and 2 in by_shards and by_shards[1].log.reads and by_shards[1].log.writes:
        one, two = by_shards[1], by_shards[2]
        print(f"   2 shards / 1 shard: reads/s {len(two.log.reads) / two.elapsed / (len(one.log.reads) / one.elapsed):.2f}x, "
              f"write batches/s {len(two.log.writes) / two.elapsed / (len(one.log.writes) / one.elapsed):.2f}x")
    print(f"   load average at the end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def shard_counts(text: str) -> list[int]:
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tape", type=Path, help="a tape root or version (default: build one in a temp dir)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, one agent each")
    parser.add_argument("--seconds", type=float, default=60.0, help="time under load per layout")
    parser.add_argument("--shards", type=shard_counts, default="1,2", help="shard counts to compare, one service each")
    parser.add_argument("--read-share", type=float, default=0.5, help="probability that an operation is a read")
    parser.add_argument("--batch", type=int, default=10, help="records per write batch")
    parser.add_argument("--preload", type=int, default=20_000, help="memories written before the load")
    parser.add_argument("--solo-reads", type=int, default=200, help="reads of one client alone, for reference")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clients' choice of operation")
    args = parser.parse_args()
    from glyph_dist.fgms.schema import MAX_BATCH

    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.read_share <= 1 or not 1 <= args.batch <= MAX_BATCH \
            or args.preload < args.clients or args.solo_reads < 1 or min(args.shards) < 1:
        parser.error(f"need --clients >= 1, --seconds > 0, 0 <= --read-share <= 1, 1 <= --batch <= {MAX_BATCH}, "
                     "--preload >= --clients, --solo-reads >= 1, shard counts >= 1")

    print_machine("bench_fgms_load")
    with tempfile.TemporaryDirectory(prefix="fgms-load-") as tmp:
        work = Path(tmp)
        workload = prepare(work, args.tape)
        agents = pick_agents(args.clients, max(args.shards))
        results = [layout(workload, work, shards, agents, args) for shards in args.shards]
    for r in results:
        print(f"\n-- errors with {r.shards} shard{'s' if r.shards > 1 else ''}")
        print_errors(r.log)
    summary(results, args)
    errors = sum(sum(r.log.errors.values()) for r in results)
    print(f"   target: no errors: {'MET' if errors == 0 else f'MISSED ({errors:,} errors)'}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
