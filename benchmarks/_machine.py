"""Shared benchmark helpers: machine description, timing, profiling and the benchmark corpus.

Heavy modules (torch, faiss, tokenizers) are imported lazily, so a script can pin itself to one
core before anything starts a thread pool.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("GLYPH_DIST_DATASETS", ROOT.parent / "shared" / "datasets"))
SGD_DIR = DATASETS / "sgd" / "dev"
_CLAUSE_BREAK = re.compile(r"[,;:] ")
_CALCULATOR = re.compile(r"<<[^>]*>>")


def machine_lines() -> list[str]:
    """Platform, CPU model, cores, memory, Python and library versions, one fact a line."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    versions = []
    for name in ("torch", "faiss-cpu", "faiss-gpu-cu12", "sentence-transformers", "tokenizers",
                 "transformers", "scikit-learn", "numpy"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return [
        f"platform: {platform.platform()}",
        f"cpu: {model}; {os.cpu_count()} logical cores, {len(os.sched_getaffinity(0))} usable by this process",
        f"memory: {int(mem.group(1)) / 2**20:.1f} GiB" if mem else "memory: unknown",
        f"load average at start (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"versions: {', '.join(versions)}",
    ]


def print_header(title: str) -> None:
    print(f"== {title}")
    for line in machine_lines():
        print(f"   {line}")
    sys.stdout.flush()


def run_experiment_timed(title: str, file: str, example: str, settings: Callable[[Path], list[str]]
                         ) -> tuple[object, dict, float, list[dict]]:
    """`experiments/FILE` as `glyph-dist run` runs it, with `--tape` and the user's overrides from the command line
    (`example` shows one), the header printed, in a temporary work directory given the overrides `settings(work)`
    first: (experiment, run summary, seconds end to end, result rows)."""
    import argparse

    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tape", type=Path, default=ROOT / "data" / "tapes" / "sgd", help="tape (default: %(default)s)")
    parser.add_argument("overrides", nargs="*", help=f"experiment overrides, e.g. {example}")
    args = parser.parse_args()
    print_header(title)

    from glyph_dist.runner.config import load_experiment
    from glyph_dist.runner.run import run_experiment

    with tempfile.TemporaryDirectory(prefix=f"{title}-") as tmp:
        work = Path(tmp)
        experiment = load_experiment(ROOT / "experiments" / file,
                                     [f"tape={args.tape}", f"data_dir={work / 'data'}", *settings(work), *args.overrides])
        start = time.perf_counter()
        summary = run_experiment(experiment, work / "run")
        total = time.perf_counter() - start
        rows = [json.loads(line) for line in (work / "run" / "results.jsonl").read_text().splitlines()]
    return experiment, summary, total, rows


def pin_one_core(core: int = 0) -> None:
    """Restrict this process to one core; call before importing torch, faiss or tokenizers."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["OMP_NUM_THREADS"] = "1"
    os.sched_setaffinity(0, {core})
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def repeat_timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Wall times (s) of `repeat` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(repeat)]


def describe(times: list[float]) -> str:
    return (f"median {statistics.median(times):.3f} s (mean {statistics.fmean(times):.3f}, "
            f"min {min(times):.3f}, max {max(times):.3f}, n={len(times)})")


def profile_top(fn: Callable[[], object], top: int = 20, sort: str = "cumulative") -> str:
    """cProfile's `top` functions of one call of `fn`, as text."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def corpus_documents() -> Iterator[str]:
    """Benchmark documents: SGD dialogues (one turn a line), GSM8K problems (question, then the
    answer's reasoning lines without `<<...>>` annotations and the `#### n` line), SVAMP problems."""
    from glyph_dist.fgt.ingest import source_documents

    yield from source_documents(SGD_DIR)
    for split in ("train", "test"):
        for line in (DATASETS / "gsm8k" / f"{split}.jsonl").read_text().splitlines():
            record = json.loads(line)
            steps = [s for s in _CALCULATOR.sub("", record["answer"]).splitlines()
                     if s.strip() and not s.lstrip().startswith("####")]
            yield "\n".join([record["question"], *steps])
    for problem in json.loads((DATASETS / "svamp" / "SVAMP.json").read_text()):
        yield f"{problem['Body'].strip()} {problem['Question'].strip()}"


def with_clauses(doc: str) -> list[str]:
    """The document's lines, then the clauses (split at ", ", "; " and ": ") of its sentences, one a
    line: the data sets at hand hold about 72,000 distinct sentences, and their clauses are real
    phrases of the same text that bring the corpus past 100,000 distinct phrases."""
    from glyph_dist.fgt.ingest import split_sentences

    lines = [line for line in doc.splitlines() if line.strip()]
    clauses = [c for s in split_sentences(doc) for c in _CLAUSE_BREAK.split(s) if c != s and c.strip()]
    return lines + clauses


def write_corpus(path: Path, max_phrases: int = 100_000) -> tuple[int, int]:
    """Write documents (with their clauses) to a text corpus until `max_phrases` distinct phrases
    (as ingest counts them) are reached; returns (documents, distinct phrases). A line break
    always ends a sentence in ingest, so each line holds its own phrases."""
    from glyph_dist.fgt.ingest import PhraseFilter, split_sentences

    accepts, seen, n_docs = PhraseFilter().accepts, set(), 0
    with path.open("w", encoding="utf-8") as out:
        for doc in corpus_documents():
            lines = with_clauses(doc)
            new = {s for line in lines for s in split_sentences(line) if accepts(s)} - seen
            if len(seen) + len(new) > max_phrases:
                break
            seen |= new
            out.writelines(f"{line}\n" for line in lines)
            n_docs += 1
    return n_docs, len(seen)
