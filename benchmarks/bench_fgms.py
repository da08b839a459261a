"""FGMS benchmarks: batched writes and read latency (core, Ray actor, HTTP) at 10,000 and 100,000 memories.

One actor's memories are written in batches of 256 realistic agent turns (the SGD train dialogues,
cycled with unique record ids) to a `ShardMemory` in this process (the core) and, through a
`ShardRouter`, to one Ray shard actor; the HTTP paths are the Ray Serve app in front of that actor,
served as `glyph-dist fgms serve` serves it (direct ingress: the replica answers HTTP on a port of its
own, `glyph_dist.fgms.app.direct_ingress_env`) and, for comparison, through Serve's proxy.
Reads use token_budget=2048 and the service's default read: policy "relevant", mode "text", relevance
"hybrid" (BM25 and embeddings, fused), unit "turn", 6 neighbours (--policy, --mode, --relevance, --unit
and --neighbours change them), and held-out SGD user turns as queries. With --compiled-graph, the
reads also go through a Ray Compiled Graph on the shard actor (for reference: FGMS does not use one; the
graph runs the reads on a thread of its own, safe here only because the bench never reads and writes at
once, and only the process that compiled it may call it).
(The SGD dev set has 8,664 train turns, so at 100,000 memories each text occurs about 12 times.)

Targets (2-core machine, default embedder): writes >= 2,000 records/s per shard (lexical indexing
included); read p99 <= 10 ms through an actor call and <= 30 ms over HTTP (either way). Core figures are for
reference.

    .venv/bin/python benchmarks/bench_fgms.py [--tape DIR] [--sizes 10000,100000] [--reads 200] [--batch 256]
        [--policy recent|relevant|mixed|foveated] [--mode text|glyph|mixed|residual]
        [--relevance dense|lexical|hybrid] [--unit span|turn] [--neighbours N] [--compiled-graph] [--profile]

The helpers here (data, records, timing, Ray start) are shared by bench_fgms_shards.py and
bench_fgms_chroma.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from _machine import ROOT, SGD_DIR, print_header, profile_top
from glyph_dist.cli import add_read_options
from glyph_dist.fgms.schema import DEFAULT_READ, read_settings

WRITE_TARGET = 2_000  # records/s per shard
ACTOR_P99_TARGET_MS, HTTP_P99_TARGET_MS = 10.0, 30.0
TOKEN_BUDGET = 2048
READ = {"token_budget": TOKEN_BUDGET, **DEFAULT_READ}  # FGMS's default read; the options below change it


def read_label() -> str:
    """The reads' settings as the benchmarks print them."""
    return ", ".join(f"{key} {value}" for key, value in READ.items())


@dataclass(frozen=True)
class Turn:
    episode_id: str
    turn: int
    role: str
    text: str


@dataclass(frozen=True)
class Workload:
    tape: Path
    turns: list[Turn]  # memories to write (SGD train turns)
    queries: list[str]  # held-out SGD user turns


# -- set-up shared by the FGMS benchmarks

def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_machine(title: str) -> None:
    """The machine description of _machine.py plus the versions that matter to FGMS."""
    print_header(title)
    names = ("ray", "chromadb", "fastapi", "pydantic", "tokenizers", "requests")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    print(f"   also: {', '.join(found)}")
    print(f"   code: {code_version()}")
    sys.stdout.flush()


def code_version() -> str:
    """The git commit, and whether glyph_dist/ differs from it (benchmarks measure the working tree)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "glyph_dist"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [p for p in dirty if p.startswith("glyph_dist/")]
    return f"git {commit}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def _episodes(path: Path) -> Iterator[dict]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def prepare(work: Path, tape: Path | None) -> Workload:
    """The SGD train/held-out episodes (data/corpus if present, else made from the shared SGD dev
    set under `work`) and a tape: `tape` if given, else one built under `work` from the train split."""
    from glyph_dist.data.corpus import make_sgd_corpus

    corpus = ROOT / "data" / "corpus"
    train, heldout = corpus / "sgd_train.jsonl", corpus / "sgd_heldout.jsonl"
    if not (train.exists() and heldout.exists()):
        paths = make_sgd_corpus(SGD_DIR, work / "corpus")
        train, heldout = paths["train"], paths["heldout"]
    if tape is None:
        from glyph_dist.fgt.build import build_tape

        start = time.perf_counter()
        tape = build_tape([train], work / "tape", quiet=True)
        print(f"tape: built from {train.name} in {time.perf_counter() - start:.1f} s -> {tape}")
    else:
        print(f"tape: {tape}")
    turns = [Turn(ep["episode_id"], i, t["role"], t["text"])
             for ep in _episodes(train) for i, t in enumerate(ep["turns"])]
    queries = [t["text"] for ep in _episodes(heldout) for t in ep["turns"] if t["role"] == "user"]
    print(f"workload: {len(turns):,} SGD train turns (cycled, unique record ids), "
          f"{len(queries):,} held-out user turns as queries")
    return Workload(Path(tape), turns, queries)


def records(turns: Sequence[Turn], actor: str, start: int, stop: int) -> list:
    """Memories `start`..`stop-1` of `actor`: the turns cycled, each pass a new set of episodes."""
    from glyph_dist.fgms.schema import MemoryRecord

    out = []
    for k in range(start, stop):
        t = turns[k % len(turns)]
        out.append(MemoryRecord(actor_id=actor, record_id=f"{actor}-{k}", episode_id=f"{t.episode_id}#{k // len(turns)}",
                                turn=t.turn, role=t.role, source="sgd", text=t.text))
    return out


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def queries(workload: Workload, n: int, offset: int = 0) -> list[str]:
    return list(islice(cycle(workload.queries[offset:] + workload.queries[:offset]), n))


def pick_agents(n: int, shards: int = 2) -> list[str]:
    """`n` agent ids spread evenly over the shards of a `shards`-shard layout, one of each shard in turn."""
    from glyph_dist.fgms.shard import shard_for

    by_shard: dict[int, list[str]] = {i: [] for i in range(shards)}
    i = 0
    while min(len(v) for v in by_shard.values()) < -(-n // shards):
        agent = f"agent-{i:03d}"
        by_shard[shard_for(agent, shards)].append(agent)
        i += 1
    return [a for group in zip(*by_shard.values()) for a in group][:n]


def start_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    return ray


def free_port() -> int:
    """A free port on 127.0.0.1, probed as Serve binds one."""
    from glyph_dist.fgms.app import bindable_port

    return bindable_port("127.0.0.1")


# -- measurement

def timed_writes(write: Callable[[Sequence], object], items: Sequence, batch: int) -> float:
    """Seconds to write `items` in batches, one batch at a time."""
    start = time.perf_counter()
    for chunk in batches(items, batch):
        write(chunk)
    return time.perf_counter() - start


def latencies(call: Callable[[str], object], qs: Sequence[str], warmup: int = 5) -> list[float]:
    """Wall seconds of `call(q)` for each query, after `warmup` untimed calls."""
    for q in qs[:warmup]:
        call(q)
    out = []
    for q in qs:
        start = time.perf_counter()
        call(q)
        out.append(time.perf_counter() - start)
    return out


def pct_ms(times: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(times) * 1e3, q))


def latency_summary(times: Sequence[float]) -> str:
    return (f"p50 {pct_ms(times, 50):7.1f} ms  p90 {pct_ms(times, 90):7.1f}  p99 {pct_ms(times, 99):7.1f}  "
            f"mean {statistics.fmean(times) * 1e3:7.1f}  max {max(times) * 1e3:7.1f}  (n={len(times)})")


def bare_serve(port: int) -> Callable[[str], object]:
    """Deploy a Serve app that answers `{}` at /bare; returns a POST call to it (the HTTP floor)."""
    import requests
    from ray import serve

    @serve.deployment(ray_actor_options={"num_cpus": 0})
    class Bare:
        async def __call__(self, request) -> dict:
            return {}

    serve.run(Bare.bind(), name="bare", route_prefix="/bare")
    session = requests.Session()
    return lambda q: session.post(f"http://127.0.0.1:{port}/bare", json={"query": q}).raise_for_status()


# -- the benchmark

def compiled_read(router):
    """A Ray Compiled Graph over the (one) shard actor's read."""
    from ray.dag import InputNode

    with InputNode() as request:
        return router.handles[0].read.bind(request).experimental_compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tape", type=Path, help="a tape root or version (default: build one in a temp dir)")
    parser.add_argument("--sizes", default="10000,100000", help="memories of the read actor at each read step")
    parser.add_argument("--reads", type=int, default=200, help="timed reads per path and size")
    parser.add_argument("--batch", type=int, default=256, help="records per write batch")
    add_read_options(parser)
    parser.add_argument("--compiled-graph", action="store_true",
                        help="also read through a Ray Compiled Graph on the shard actor")
    parser.add_argument("--profile", action="store_true", help="cProfile of core reads and writes at the end")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    READ.update(read_settings(args))

    print_machine("bench_fgms")
    with tempfile.TemporaryDirectory(prefix="fgms-bench-") as tmp:
        work = Path(tmp)
        workload = prepare(work, args.tape)
        run(workload, work, sizes, args.reads, args.batch, args.profile, args.compiled_graph)


ReadPath = tuple[str, Callable[[str], object], float | None]  # label, read of one query, p99 target (ms)


def read_paths(ray, core, router, client, proxied, actor: str, graph=None) -> list[ReadPath]:
    """The ways to read `actor`: the core in this process, one actor call, HTTP as `fgms serve` serves it
    (`client`) and through Serve's proxy (`proxied`); and the compiled graph `graph` over the shard's
    read, if given."""
    from glyph_dist.fgms.schema import ReadRequest

    def request(q: str) -> ReadRequest:
        return ReadRequest(actor_id=actor, query=q, **READ)

    return [("core (in-process, no Ray)", lambda q: core.read(request(q)), None),
            ("actor: ray.get(router.read)", lambda q: ray.get(router.read(request(q))), ACTOR_P99_TARGET_MS),
            ("HTTP: MemoryClient.read", lambda q: client.read(actor, q, **READ), HTTP_P99_TARGET_MS),
            ("HTTP through Serve's proxy", lambda q: proxied.read(actor, q, **READ), HTTP_P99_TARGET_MS)
            ] + ([("actor: Compiled Graph execute", lambda q: ray.get(graph.execute(request(q))), None)] if graph else [])


def bench_writes(ray, core, router, new: list, batch: int, span: str, summary: list) -> None:
    """Write the same records to the core and through the actor, one batch at a time."""
    for label, write in (("core: ShardMemory.write", core.write),
                         ("actor: ray.get(router.write)", lambda b: ray.get(router.write(list(b))))):
        seconds = timed_writes(write, new, batch)
        rate = len(new) / seconds
        print(f"   {label:<30} {rate:8,.0f} records/s ({seconds:.1f} s); target >= {WRITE_TARGET:,}: "
              f"{verdict(rate >= WRITE_TARGET)}")
        summary.append((f"write {span}, {label}", f"{rate:,.0f} rec/s", rate >= WRITE_TARGET))


def bench_reads(paths: list[ReadPath], qs: list[str], size: int, summary: list) -> None:
    """Latency of each path over the queries, with the step from one path to the next."""
    p50s = []
    for label, call, target in paths:
        times = latencies(call, qs)
        p50s.append(pct_ms(times, 50))
        line = f"   {label:<30} {latency_summary(times)}"
        if target is not None:
            ok = pct_ms(times, 99) <= target
            line += f"; target p99 <= {target:.0f} ms: {verdict(ok)}"
            summary.append((f"read p99 at {size:,}, {label}", f"{pct_ms(times, 99):.1f} ms", ok))
        print(line)
        sys.stdout.flush()
    print(f"   p50 steps: actor - core {p50s[1] - p50s[0]:+.1f} ms (Ray call, response pickling), "
          f"HTTP - actor {p50s[2] - p50s[1]:+.1f} ms (the replica's HTTP server, FastAPI, client), "
          f"the proxy {p50s[3] - p50s[2]:+.1f} ms (its hop, and a call back to it for the request body)")


def direct_ingress_port() -> int:
    """Turn Serve's direct ingress on for the Ray about to start here, as `glyph-dist fgms serve` does;
    the port FGMS's replica takes (the bare app's replica takes the next)."""
    from glyph_dist.fgms.app import direct_ingress_env

    port = free_port()
    os.environ.update(direct_ingress_env(port, replicas=2))
    return port


def run(workload: Workload, work: Path, sizes: list[int], n_reads: int, batch: int, profile: bool,
        compiled_graph: bool) -> None:
    from ray import serve

    from glyph_dist.fgms.app import build_app
    from glyph_dist.fgms.client import MemoryClient
    from glyph_dist.fgms.memory import ShardMemory
    from glyph_dist.fgms.schema import ReadRequest
    from glyph_dist.fgms.shard import ShardRouter

    direct_port = direct_ingress_port()
    ray = start_ray()
    start = time.perf_counter()
    core = ShardMemory.open(workload.tape, work / "core", 0)
    print(f"core: ShardMemory.open {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    router = ShardRouter(str(workload.tape), str(work / "ray"), shards=1)
    ray.get(router.stats())
    print(f"ray: 1 shard actor up in {time.perf_counter() - start:.2f} s (num_cpus=2, shard_cpus=0.5)")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(str(workload.tape), str(work / "ray"), shards=1), name="fgms", route_prefix="/")
    client, proxied = MemoryClient(f"http://127.0.0.1:{direct_port}"), MemoryClient(f"http://127.0.0.1:{port}")
    assert client.health()["shards"] == 1 and proxied.health()["shards"] == 1
    graph = compiled_read(router) if compiled_graph else None
    actor, summary, written = "bench-agent", [], 0
    try:
        floor_qs = queries(workload, n_reads // 2)
        print(f"\n-- overhead floor: reads of an agent with no memories, and a bare Serve app (n={len(floor_qs)})")
        for label, call, _ in read_paths(ray, core, router, client, proxied, "bench-nobody", graph):
            print(f"   {label:<30} {latency_summary(latencies(call, floor_qs))}")
        print(f"   {'HTTP: bare Serve app, proxied':<30} {latency_summary(latencies(bare_serve(port), floor_qs))}")
        for size in sizes:
            print(f"\n-- writes: records {written:,}..{size:,} of one agent, batches of {batch} records, one at a time")
            bench_writes(ray, core, router, records(workload.turns, actor, written, size), batch,
                         f"{written:,}..{size:,}", summary)
            written = size
            stats = ray.get(router.stats())[0]
            assert stats["records"] == core.records == size, (stats, core.records)
            print(f"   stored: {size:,} records, {stats['spans']:,} spans in the actor (core: {core.stats()['spans']:,})")

            qs = queries(workload, n_reads, offset=size % len(workload.queries))
            sample = core.read(ReadRequest(actor_id=actor, query=qs[0], **READ))
            print(f"\n-- reads at {size:,} memories: {read_label()}, "
                  f"{n_reads} held-out queries (e.g. {len(sample.items)} items, {sample.token_estimate} tokens, "
                  f"{sample.candidates_considered:,} candidates)")
            bench_reads(read_paths(ray, core, router, client, proxied, actor, graph), qs, size, summary)
        if profile:
            qs = queries(workload, 30)
            print(f"\n-- profile: 30 core reads at {written:,} memories (sorted by cumulative time)")
            print(profile_top(lambda: [core.read(ReadRequest(actor_id=actor, query=q, **READ)) for q in qs], top=25))
            extra = records(workload.turns, "bench-profile", 0, 10 * batch)
            print(f"-- profile: 10 core write batches of {batch} records (sorted by cumulative time)")
            print(profile_top(lambda: timed_writes(core.write, extra, batch), top=25))
    finally:
        if graph is not None:
            graph.teardown()
        serve.shutdown()
        router.shutdown()
        ray.shutdown()
        core.storage.close()
    print("\n-- summary")
    for label, value, ok in summary:
        print(f"   {label:<62} {value:>12}  {verdict(ok)}")


if __name__ == "__main__":
    main()
