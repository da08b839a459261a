"""Clustering side by side: the tape's faiss spherical k-means against scikit-learn's MiniBatchKMeans
on the same phrase embeddings (the default static embedder, fitted as a tape build fits it), K = 1,024.

Quality is judged with each method's own centroids: inertia (sum of squared Euclidean distances of
every vector to its nearest centroid) and the mean cosine similarity of every vector to that centroid
(fair to the spherical variant, whose centroids have unit length while the vectors' means do not).

    .venv/bin/python benchmarks/bench_kmeans.py [--phrases N] [--clusters K] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from _machine import describe, print_header, timed, write_corpus

MINIBATCH = dict(batch_size=4096, n_init=1, max_iter=100, init="k-means++", random_state=0)


def embeddings(max_phrases: int) -> np.ndarray:
    """Unit-length phrase vectors of the benchmark corpus, as `build_tape` computes them."""
    from glyph_dist.fgt.embedder import resolve_embedder
    from glyph_dist.fgt.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="glyph-bench-") as work:
        corpus = Path(work) / "corpus.txt"
        write_corpus(corpus, max_phrases)
        phrases = ingest([corpus])
    texts, counts = [p.text for p in phrases], [p.count for p in phrases]
    seconds, vectors = timed(lambda: resolve_embedder("static", texts, counts).encode(texts))
    print(f"embeddings: {vectors.shape[0]:,} phrases x {vectors.shape[1]} dims in {seconds:.1f} s")
    return vectors


def quality(vectors: np.ndarray, centroids: np.ndarray) -> dict[str, float]:
    """Inertia and mean cosine to the nearest (Euclidean) centroid, the inertia of the same partition
    around its cluster means (which removes the spherical centroids' unit-length handicap), and the
    number of occupied clusters."""
    import faiss

    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    squared, nearest = index.search(vectors, 1)
    labels = nearest[:, 0]
    assigned = centroids[labels]
    cosine = np.einsum("ij,ij->i", vectors, assigned) / np.maximum(np.linalg.norm(assigned, axis=1), 1e-12)
    sums = np.zeros(centroids.shape, dtype=np.float64)
    np.add.at(sums, labels, vectors)
    means = sums / np.maximum(np.bincount(labels, minlength=len(centroids)), 1)[:, None]
    partition = float(((vectors - means[labels]) ** 2).sum())
    return {"inertia": float(squared.sum(dtype=np.float64)), "cosine": float(cosine.mean()),
            "partition": partition, "occupied": float(len(np.unique(labels)))}


def run(name: str, fit: Callable[[], np.ndarray], vectors: np.ndarray, repeat: int) -> tuple[float, dict]:
    """Median fit time over `repeat` fits, and the quality of the first fit's centroids."""
    times, centroids = [], None
    for _ in range(repeat):
        seconds, result = timed(fit)
        times.append(seconds)
        centroids = result if centroids is None else centroids
    q = quality(vectors, centroids)
    print(f"{name}: {describe(times)}\n   inertia {q['inertia']:,.1f}, mean cosine {q['cosine']:.4f}, "
          f"partition inertia around cluster means {q['partition']:,.1f}, {q['occupied']:,.0f} clusters occupied")
    return statistics.median(times), q


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, default=100_000, help="cap on distinct phrases")
    parser.add_argument("--clusters", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="fits per method")
    args = parser.parse_args()
    print_header("bench_kmeans")
    import faiss
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_info

    from glyph_dist.fgt.cluster import kmeans

    vectors, k = embeddings(args.phrases), args.clusters
    omp = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"})
    print(f"threads: faiss {faiss.omp_get_max_threads()}, OpenMP pools (scikit-learn) {omp}; K={k}")
    print("faiss: glyph_dist.fgt.cluster.kmeans (spherical, niter=20, seed=0, max_points_per_centroid=1024)")
    print(f"MiniBatchKMeans: {', '.join(f'{key}={value}' for key, value in MINIBATCH.items())}")
    t_faiss, q_faiss = run("faiss kmeans", lambda: kmeans(vectors, k, seed=0), vectors, args.repeat)
    fitted: list[MiniBatchKMeans] = []

    def minibatch() -> np.ndarray:
        fitted.append(MiniBatchKMeans(k, **MINIBATCH).fit(vectors))
        return fitted[-1].cluster_centers_

    t_mb, q_mb = run("MiniBatchKMeans", minibatch, vectors, args.repeat)
    print(f"   MiniBatchKMeans ran {fitted[0].n_steps_:,} mini-batch steps ({fitted[0].n_iter_} epochs, "
          f"early stopping on)")
    print(f"MiniBatchKMeans / faiss: time x{t_mb / t_faiss:.2f}, inertia x{q_mb['inertia'] / q_faiss['inertia']:.3f}, "
          f"partition inertia x{q_mb['partition'] / q_faiss['partition']:.3f}, "
          f"mean cosine {q_mb['cosine']:.4f} vs {q_faiss['cosine']:.4f} ({q_mb['cosine'] - q_faiss['cosine']:+.4f})")


if __name__ == "__main__":
    main()
