"""The dense scan of an FGMS read: every span vector of an actor against the query, one thread.

At 100,000 memories bench_fgms.py's actor holds 131,306 span vectors of 128 dims (67 MB of float32). The
scan FGMS runs (`glyph_dist.fgms.memory.inner_products`, faiss's float32 kernel) is timed beside the other
exact kernels at hand (a BLAS matrix-vector product through numpy, torch's in float32, bfloat16 and float16)
and beside faiss's scalar-quantised indexes (float16, 8-bit, 8-bit signed direct), which read 2 to 4 times
fewer bytes but score approximately; they are timed as a top-512 search, the depth a read ranks at budget
2,048. The vectors are random unit vectors: a scan's speed does not depend on their values.

    .venv/bin/python benchmarks/bench_scan.py [--spans 131306] [--dim 128] [--calls 300]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
from _machine import print_header
from bench_fgms import latencies, pct_ms

TOP = 512  # a read's ranking depth at budget 2,048 (MAX_RANKED)


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def exact_scans(vectors: np.ndarray) -> dict[str, Callable[[np.ndarray], object]]:
    """Exact `vectors @ query` by each kernel."""
    import torch

    from glyph_dist.fgms.memory import inner_products

    as_torch = {dtype: torch.from_numpy(vectors).to(dtype) for dtype in (torch.float32, torch.bfloat16, torch.float16)}
    return {"faiss float32 (FGMS)": lambda q: inner_products(vectors, q),
            "numpy BLAS float32": lambda q: vectors @ q,
            **{f"torch {str(dtype).removeprefix('torch.')}": (lambda q, m=m, dtype=dtype: torch.mv(m, torch.from_numpy(q).to(dtype)))
               for dtype, m in as_torch.items()}}


def quantised_searches(vectors: np.ndarray) -> dict[str, Callable[[np.ndarray], object]]:
    """Top-`TOP` inner-product search of faiss scalar-quantised indexes over the vectors."""
    import faiss

    searches = {}
    for name in ("QT_fp16", "QT_8bit", "QT_8bit_direct_signed"):
        index = faiss.IndexScalarQuantizer(vectors.shape[1], getattr(faiss.ScalarQuantizer, name),
                                           faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.add(vectors)
        bytes_per_row = index.sa_code_size()
        searches[f"faiss SQ {name[3:]} top-{TOP} ({bytes_per_row} B/row)"] = lambda q, index=index: index.search(q[None], TOP)
    return searches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=131_306, help="(default: %(default)s)")
    parser.add_argument("--dim", type=int, default=128, help="(default: %(default)s)")
    parser.add_argument("--calls", type=int, default=300, help="(default: %(default)s)")
    args = parser.parse_args()
    print_header("bench_scan")
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng, args.spans, args.dim)
    queries = list(unit_rows(rng, args.calls, args.dim))
    print(f"\n-- {args.spans:,} x {args.dim} float32 ({vectors.nbytes / 2**20:.0f} MiB), {args.calls} queries, one thread")
    with threadpool_limits(limits=1):
        found = {name: latencies(scan, queries) for name, scan in
                 {**exact_scans(vectors), **quantised_searches(vectors)}.items()}
    base = pct_ms(found["faiss float32 (FGMS)"], 50)
    for name, times in found.items():
        print(f"   {name:48} p50 {pct_ms(times, 50):6.2f} ms  p99 {pct_ms(times, 99):6.2f}  "
              f"p50 / FGMS's {pct_ms(times, 50) / base:5.2f}x")


if __name__ == "__main__":
    main()
