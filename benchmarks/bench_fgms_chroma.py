"""FGMS core vs an embedded Chroma collection, side by side: write throughput and read latency.

Both run in this process on the same data: one agent's memories (SGD train turns, cycled with unique
record ids) written in the same batches of 256 records, alternating batch by batch between the two,
up to 10,000 and then 100,000 records; reads alternate query by query.

- FGMS (`ShardMemory`, the core of one shard, no Ray): a write splits sentences, embeds them, looks
  up each sentence's tape family (faiss), and commits records and spans (with vectors) in one
  fsync'd SQLite transaction (WAL, synchronous=FULL). A read (bench_fgms.py's: policy "relevant", mode
  "text", relevance "hybrid", unit "turn", 6 neighbours) embeds the query, scores every span of the
  agent (exact) and its BM25 index, fuses the two rankings, shares relevance with neighbouring turns,
  and packs whole turns verbatim, token-counted, into token_budget=2048.
- Chroma (`PersistentClient`, `embedding_function=None`, HNSW, inner product): given the very
  sentences and vectors FGMS stores (split_sentences + the tape's embedder), one Chroma document a
  sentence with its metadata. Writes are timed with the embedding (as FGMS's are) and without it.
  A read embeds the query and asks for the top k (approximate, HNSW) with documents, metadata and
  distances; k=20 and k = the number of lines FGMS returned at 2048 tokens.

    .venv/bin/python benchmarks/bench_fgms_chroma.py [--tape DIR] [--sizes 10000,100000] [--reads 200] [--batch 256] [--k 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench_fgms import (READ, Workload, batches, latency_summary, pct_ms, prepare, print_machine, queries, read_label,
                        records)

ACTOR = "bench-agent"


class ChromaSide:
    """An embedded, persistent Chroma collection fed with the tape's embeddings of each sentence."""

    def __init__(self, path: Path, embedder):
        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
        self.collection = self.client.create_collection(
            "fgms-bench", embedding_function=None, configuration={"hnsw": {"space": "ip"}})
        self.embedder = embedder
        self.embed_seconds = self.add_seconds = 0.0

    def write(self, batch) -> None:
        from glyph_dist.fgt.ingest import split_sentences

        start = time.perf_counter()
        ids, documents, metadatas = [], [], []
        for r in batch:
            for i, sentence in enumerate(split_sentences(r.text)):
                ids.append(f"{r.record_id}:{i}")
                documents.append(sentence)
                metadatas.append({"actor_id": r.actor_id, "record_id": r.record_id, "span": i, "turn": r.turn,
                                  "role": r.role, "episode_id": r.episode_id, "source": r.source})
        vectors = self.embedder.encode(documents)
        embedded = time.perf_counter()
        self.collection.add(ids=ids, embeddings=vectors, documents=documents, metadatas=metadatas)
        self.embed_seconds += embedded - start
        self.add_seconds += time.perf_counter() - embedded

    def query(self, text: str, k: int) -> dict:
        return self.collection.query(query_embeddings=self.embedder.encode([text]), n_results=k)


def interleaved(calls: dict[str, Callable[[str], object]], items: Sequence[str], warmup: int = 5) -> dict[str, list[float]]:
    """Wall seconds of each call on each item, the calls alternating item by item."""
    for item in items[:warmup]:
        for call in calls.values():
            call(item)
    times: dict[str, list[float]] = {label: [] for label in calls}
    for item in items:
        for label, call in calls.items():
            start = time.perf_counter()
            call(item)
            times[label].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tape", type=Path, help="a tape root or version (default: build one in a temp dir)")
    parser.add_argument("--sizes", default="10000,100000", help="records stored at each read step")
    parser.add_argument("--reads", type=int, default=200, help="timed reads per side and size")
    parser.add_argument("--batch", type=int, default=256, help="records per write batch")
    parser.add_argument("--k", type=int, default=20, help="Chroma top-k (besides k matched to FGMS's lines)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    print_machine("bench_fgms_chroma")
    try:
        import chromadb  # noqa: F401
    except ImportError:
        print("chromadb is not installed (.venv/bin/pip install chromadb): comparison skipped")
        return
    with tempfile.TemporaryDirectory(prefix="fgms-bench-") as tmp:
        work = Path(tmp)
        run(prepare(work, args.tape), work, sizes, args.reads, args.batch, args.k)


def run(workload: Workload, work: Path, sizes: list[int], n_reads: int, batch: int, k: int) -> None:
    from glyph_dist.fgms.memory import ShardMemory
    from glyph_dist.fgms.schema import ReadRequest

    fgms = ShardMemory.open(workload.tape, work / "fgms", 0)
    chroma = ChromaSide(work / "chroma", fgms.tape.embedder)
    print("FGMS core: write = split + embed + family look-up + BM25 postings + fsync'd SQLite commit; read = embed\n"
          "   query, exact scores of all spans, BM25, fusion, rendering packed into the budget (token-counted):\n"
          f"   {read_label()}\n"
          "Chroma PersistentClient (defaults, HNSW ip): the same sentences and tape embeddings; write = split +\n"
          "   embed + add (also shown without split + embed); read = embed query + approximate top-k with documents,\n"
          "   metadata and distances")
    fgms_read = lambda q: fgms.read(ReadRequest(actor_id=ACTOR, query=q, **READ))  # noqa: E731
    summary, written = [], 0
    for size in sizes:
        new = records(workload.turns, ACTOR, written, size)
        fgms_seconds, chroma.embed_seconds, chroma.add_seconds = 0.0, 0.0, 0.0
        for chunk in batches(new, batch):
            start = time.perf_counter()
            fgms.write(chunk)
            fgms_seconds += time.perf_counter() - start
            chroma.write(chunk)
        n, spans = len(new), chroma.collection.count()
        assert fgms.stats()["spans"] == spans, (fgms.stats(), spans)
        rates = {"FGMS core write": n / fgms_seconds,
                 "Chroma: split + embed + add": n / (chroma.embed_seconds + chroma.add_seconds),
                 "Chroma: add only": n / chroma.add_seconds}
        print(f"\n-- writes: records {written:,}..{size:,} ({spans:,} sentences stored in all), batches of {batch}, "
              f"alternating")
        for label, rate in rates.items():
            print(f"   {label:<32} {rate:8,.0f} records/s")
        fgms_rate = rates["FGMS core write"]
        print(f"   FGMS / Chroma (with embedding): {fgms_rate / rates['Chroma: split + embed + add']:.2f}x;  "
              f"FGMS / Chroma (add only): {fgms_rate / rates['Chroma: add only']:.2f}x  (> 1: FGMS writes faster)")
        summary.append((f"writes {written:,}..{size:,} rec/s", fgms_rate, rates["Chroma: split + embed + add"]))
        written = size

        qs = queries(workload, n_reads, offset=size % len(workload.queries))
        k_match = int(statistics.median(len(fgms_read(q).items) for q in qs[:10]))
        calls = {"FGMS core read (budget 2048)": fgms_read,
                 f"Chroma query k={k}": lambda q: chroma.query(q, k),
                 f"Chroma query k={k_match} (FGMS's lines)": lambda q: chroma.query(q, k_match)}
        times = interleaved(calls, qs)
        print(f"\n-- reads at {size:,} records ({spans:,} sentences), {n_reads} held-out queries, alternating; "
              f"latency includes embedding the query")
        for label, t in times.items():
            print(f"   {label:<40} {latency_summary(t)}")
        fgms_t, chroma_t = times["FGMS core read (budget 2048)"], times[f"Chroma query k={k}"]
        matched_t = times[f"Chroma query k={k_match} (FGMS's lines)"]
        print(f"   FGMS / Chroma k={k} latency: p50 {pct_ms(fgms_t, 50) / pct_ms(chroma_t, 50):.1f}x, "
              f"p99 {pct_ms(fgms_t, 99) / pct_ms(chroma_t, 99):.1f}x;  FGMS / Chroma k={k_match}: "
              f"p50 {pct_ms(fgms_t, 50) / pct_ms(matched_t, 50):.1f}x, p99 {pct_ms(fgms_t, 99) / pct_ms(matched_t, 99):.1f}x"
              f"  (> 1: FGMS slower)")
        for q in (50, 99):
            summary.append((f"read p{q} at {size:,}, ms (Chroma k={k})", pct_ms(fgms_t, q), pct_ms(chroma_t, q)))
            summary.append((f"read p{q} at {size:,}, ms (Chroma k={k_match})", pct_ms(fgms_t, q), pct_ms(matched_t, q)))
        sys.stdout.flush()
    fgms.storage.close()
    print(f"\n-- summary (writes: > 1 means FGMS faster; reads: > 1 means FGMS slower)\n"
          f"   {'':<45} {'FGMS':>10} {'Chroma':>10} {'FGMS/Chroma':>12}")
    for label, a, b in summary:
        print(f"   {label:<45} {a:10,.1f} {b:10,.1f} {a / b:11.2f}x")


if __name__ == "__main__":
    main()
