"""Tape benchmarks: build (~100,000 phrases, K = 1,024), load, and hybrid encoding on one core.

Targets: build <= 60 s end to end; load_tape <= 1 s (median); encode_hybrid_batch >= 20,000
phrases/s on one core. The build and load run on all cores in this process; encoding runs in a
child process pinned to one core before torch, faiss or tokenizers are imported.

    .venv/bin/python benchmarks/bench_tape.py [--phrases N] [--clusters K] [--repeat R] [--profile]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import SGD_DIR, describe, pin_one_core, print_header, profile_top, repeat_timed, timed, write_corpus

BUILD_TARGET_S, LOAD_TARGET_S, ENCODE_TARGET = 60.0, 1.0, 20_000


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def bench_build(work: Path, max_phrases: int, clusters: int, profile: bool) -> Path:
    """Write the corpus, build a tape from it and print the build figures; returns the tape."""
    from glyph_dist.fgt.build import TapeConfig, build_tape
    from glyph_dist.fgt.store import load_tape

    corpus = work / "corpus.txt"
    n_docs, n_counted = write_corpus(corpus, max_phrases)
    print(f"corpus: {n_docs:,} documents with their clauses, {sum(1 for _ in corpus.open()):,} lines -> {corpus}")
    config = TapeConfig(clusters=clusters)
    seconds, tape = timed(lambda: build_tape([corpus], work / "tape", config, quiet=False))
    n_phrases = load_tape(tape).meta["n_phrases"]
    print(f"ingest produced {n_phrases:,} distinct phrases (corpus writer counted {n_counted:,}; cap {max_phrases:,})")
    print(f"build, K={clusters}: {seconds:.1f} s end to end ({n_phrases / seconds:,.0f} phrases/s)")
    print(f"   target <= {BUILD_TARGET_S:.0f} s for {n_phrases:,} phrases: {verdict(seconds <= BUILD_TARGET_S)}")
    if profile:
        print(profile_top(lambda: build_tape([corpus], work / "profile", config, quiet=True)))
    return tape


def bench_load(tape: Path, repeat: int) -> None:
    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape

    times = repeat_timed(lambda: load_tape(tape), repeat)
    print(f"load_tape: {describe(times)}")
    print(f"   target <= {LOAD_TARGET_S:.0f} s: {verdict(statistics.median(times) <= LOAD_TARGET_S)}")
    loaded = load_tape(tape)
    print(f"HybridTokenizer(tape): {describe(repeat_timed(lambda: HybridTokenizer(loaded), repeat))}")


def bench_encode(tape: Path, repeat: int, profile: bool) -> None:
    """Hybrid encoding of the SGD dialogues (one document each) on one core."""
    pin_one_core()
    import faiss
    import torch

    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.ingest import PhraseFilter, source_documents, split_sentences
    from glyph_dist.fgt.store import load_tape

    print(f"encoding process: cores {sorted(os.sched_getaffinity(0))}, torch threads {torch.get_num_threads()}, "
          f"faiss threads {faiss.omp_get_max_threads()}, TOKENIZERS_PARALLELISM={os.environ['TOKENIZERS_PARALLELISM']}")
    seconds, loaded = timed(lambda: load_tape(tape))
    print(f"first load_tape in a fresh one-core process (incl. lazy imports): {seconds:.2f} s")
    hybrid = HybridTokenizer(loaded)
    docs = list(source_documents(SGD_DIR))
    sentences = [s for d in docs for s in split_sentences(d)]
    eligible = sum(map(PhraseFilter(**loaded.meta["phrase_filter"]).accepts, sentences))
    glyphs = sum(d.glyph is not None for _, ds in hybrid.encode_hybrid_batch(docs) for d in ds)
    print(f"encode_hybrid_batch, one core: {len(docs):,} SGD dialogues, {len(sentences):,} sentences "
          f"({eligible:,} pass the phrase filter, {glyphs:,} became glyphs at threshold {hybrid.threshold}); "
          f"{len(gc.get_objects()):,} objects tracked by the garbage collector")
    times = repeat_timed(lambda: hybrid.encode_hybrid_batch(docs), repeat)
    rate = len(sentences) / statistics.median(times)
    print(f"   {describe(times)}\n      -> {rate:,.0f} phrases/s at the median "
          f"({len(sentences) / statistics.fmean(times):,.0f} at the mean); "
          f"target >= {ENCODE_TARGET:,}: {verdict(rate >= ENCODE_TARGET)}")
    if profile:
        print(profile_top(lambda: hybrid.encode_hybrid_batch(docs), sort="tottime"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, default=100_000, help="cap on distinct phrases")
    parser.add_argument("--clusters", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=11, help="timed loads and encodings")
    parser.add_argument("--profile", action="store_true", help="also print cProfile top functions")
    parser.add_argument("--encode-only", type=Path, metavar="TAPE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.encode_only:
        bench_encode(args.encode_only, args.repeat, args.profile)
        return
    print_header("bench_tape")
    with tempfile.TemporaryDirectory(prefix="glyph-bench-") as work:
        tape = bench_build(Path(work), args.phrases, args.clusters, args.profile)
        bench_load(tape, args.repeat)
        sys.stdout.flush()
        child = [sys.executable, __file__, "--encode-only", str(tape), "--repeat", str(args.repeat)]
        subprocess.run(child + (["--profile"] if args.profile else []), check=True)


if __name__ == "__main__":
    main()
