"""Phrase families: faiss k-means over phrase embeddings, and each family's metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import Phrase


@dataclass
class Family:
    """A phrase family; `family_id` is its rank by total phrase frequency (0 = most frequent)."""

    family_id: int
    centroid: np.ndarray
    size: int
    frequency: int
    representative: str
    examples: list[str]
    coherence: float
    metadata: dict = field(default_factory=dict)


def kmeans(vectors: np.ndarray, k: int, seed: int = 0, niter: int = 20) -> np.ndarray:
    """Unit-length centroids of spherical k-means (on the GPU when faiss has one)."""
    n, dim = vectors.shape
    if n < k:
        raise GlyphDistError(f"cannot make {k} families from {n} phrases: lower --clusters or add corpus")
    model = faiss.Kmeans(dim, k, niter=niter, seed=seed, spherical=True,
                         gpu=faiss.get_num_gpus() > 0, max_points_per_centroid=1024,
                         min_points_per_centroid=1)
    model.train(vectors)
    return model.centroids


def nearest_centroid(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(family index, cosine similarity) of every vector's nearest centroid."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    similarity, assignment = index.search(vectors, 1)
    return assignment[:, 0], similarity[:, 0]


def build_families(phrases: list[Phrase], vectors: np.ndarray, centroids: np.ndarray,
                   n_examples: int = 5) -> tuple[list[Family], np.ndarray, np.ndarray]:
    """Families ranked by frequency, plus each phrase's family id and similarity to its centroid.

    Empty clusters (k-means can leave some) are dropped.
    """
    assignment, similarity = nearest_centroid(vectors, centroids)
    counts = np.fromiter((p.count for p in phrases), dtype=np.int64, count=len(phrases))
    frequency = np.bincount(assignment, weights=counts, minlength=len(centroids)).astype(np.int64)
    occupied = [c for c in np.argsort(-frequency, kind="stable") if frequency[c] > 0]
    rank = np.full(len(centroids), -1, dtype=np.int64)
    rank[occupied] = np.arange(len(occupied))
    order = np.lexsort((-similarity, assignment))  # members grouped by cluster, nearest first
    starts = np.searchsorted(assignment[order], np.arange(len(centroids)))
    ends = np.searchsorted(assignment[order], np.arange(len(centroids)), side="right")
    families = []
    for cluster in occupied:
        members = order[starts[cluster]:ends[cluster]]
        examples = [phrases[i].text for i in members[:n_examples]]
        families.append(Family(
            family_id=int(rank[cluster]),
            centroid=centroids[cluster].astype(np.float32),
            size=len(members),
            frequency=int(frequency[cluster]),
            representative=examples[0],
            examples=examples,
            coherence=float(similarity[members].mean()),
        ))
    return families, rank[assignment], similarity
