"""One `Embedder` interface over sentence-transformers models.

Two backends share it: any sentence-transformers model already on disk (a local directory or a
name in the local Hugging Face cache), and the offline default, a `StaticEmbedding` whose token
vectors are fitted to the corpus: positive PMI of token co-occurrences within a phrase, reduced by
truncated SVD, with smooth-inverse-frequency token weights so common tokens count for less.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import svds

from glyph_dist.errors import GlyphDistError

STATIC_SPEC = "static"


class Embedder:
    """Maps texts to L2-normalised float32 vectors."""

    def __init__(self, model, spec: str):
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding

        self.model = model
        self.spec = spec
        modules = list(model)
        self._static = modules[0] if len(modules) == 1 and isinstance(modules[0], StaticEmbedding) else None

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 4096) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._static is not None:
            return self._encode_static(texts)
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_static(self, texts: Sequence[str]) -> np.ndarray:
        """The same computation as `model.encode` for a lone StaticEmbedding (tokenize, mean of
        token vectors, normalise), without the per-text overhead of the generic pipeline."""
        encodings = self._static.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), dtype=np.int64,
                          count=int(lengths.sum()))
        offsets = np.concatenate([[0], np.cumsum(lengths[:-1])])
        with torch.inference_mode():
            vectors = self._static.embedding(torch.from_numpy(ids), torch.from_numpy(offsets)).numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def save(self, directory: Path) -> None:
        self.model.save(str(directory))

    @classmethod
    def load(cls, directory: Path, spec: str | None = None) -> "Embedder":
        return cls(_load_sentence_transformer(str(directory)), spec or str(directory))


def _load_sentence_transformer(name_or_path: str):
    """Load a sentence-transformers model from disk only; never download."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(name_or_path, device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise GlyphDistError(
            f"unknown embedder {name_or_path!r}: not '{STATIC_SPEC}', not a sentence-transformers "
            f"directory, and not a model in the local Hugging Face cache ({exc})"
        ) from exc


def cooccurrence(token_ids: Sequence[Sequence[int]], weights: Sequence[float], vocab_size: int,
                 window: int = 5) -> sparse.csr_matrix:
    """Symmetric token co-occurrence counts within `window` positions of the same phrase."""
    lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))
    flat = np.fromiter((t for ids in token_ids for t in ids), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.arange(len(token_ids)), lengths)
    phrase_weight = np.repeat(np.asarray(weights, dtype=np.float64), lengths)
    rows, cols, vals = [], [], []
    for offset in range(1, window + 1):
        same = owner[:-offset] == owner[offset:]
        rows.append(flat[:-offset][same])
        cols.append(flat[offset:][same])
        vals.append(phrase_weight[:-offset][same] / offset)
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    counts = sparse.coo_matrix((v, (r, c)), shape=(vocab_size, vocab_size)).tocsr()
    return counts + counts.T


def ppmi(counts: sparse.csr_matrix, context_smoothing: float = 0.75) -> sparse.csr_matrix:
    """Positive pointwise mutual information, with smoothed context probabilities."""
    counts = counts.tocoo()
    total = counts.sum()
    row_p = np.asarray(counts.sum(axis=1)).ravel() / total
    col_mass = np.asarray(counts.sum(axis=0)).ravel() ** context_smoothing
    col_p = col_mass / col_mass.sum()
    joint = counts.data / total
    pmi = np.log(joint / (row_p[counts.row] * col_p[counts.col]))
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep], (counts.row[keep], counts.col[keep])), shape=counts.shape)


def fit_token_vectors(token_ids: Sequence[Sequence[int]], weights: Sequence[float], vocab_size: int,
                      dim: int, seed: int = 0, sif_a: float = 1e-3) -> np.ndarray:
    """Token vectors: exact truncated SVD (PROPACK) of the PPMI matrix, unit length, scaled by SIF
    weight a/(a+p)."""
    counts = cooccurrence(token_ids, weights, vocab_size)
    matrix = ppmi(counts)
    k = min(dim, min(matrix.shape) - 1)
    rng = np.random.default_rng(seed)
    u, s, _ = svds(matrix, k=k, v0=rng.standard_normal(min(matrix.shape)), solver="propack")
    vectors = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    frequency = np.bincount(np.fromiter((t for ids in token_ids for t in ids), dtype=np.int64),
                            minlength=vocab_size).astype(np.float64)
    probability = frequency / max(frequency.sum(), 1.0)
    vectors *= (sif_a / (sif_a + probability))[:, None]
    if k < dim:
        vectors = np.pad(vectors, ((0, 0), (0, dim - k)))
    return np.ascontiguousarray(vectors, dtype=np.float32)


def fit_static_embedder(phrases: Sequence[str], counts: Sequence[int] | None = None, dim: int = 128,
                        vocab_size: int = 8000, seed: int = 0) -> Embedder:
    """The offline default: a corpus-fitted `StaticEmbedding` over lower-cased BPE tokens."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    from glyph_dist.fgt.bpe import train_embedder_bpe

    if not phrases:
        raise GlyphDistError("cannot fit the static embedder on an empty corpus")
    tokenizer = train_embedder_bpe(phrases, vocab_size=vocab_size)
    token_ids = [enc.ids for enc in tokenizer.encode_batch(list(phrases), add_special_tokens=False)]
    weights = counts if counts is not None else [1.0] * len(phrases)
    vectors = fit_token_vectors(token_ids, weights, tokenizer.get_vocab_size(), dim, seed=seed)
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=vectors)], device="cpu")
    return Embedder(model, STATIC_SPEC)


def resolve_embedder(spec: str, phrases: Sequence[str], counts: Sequence[int] | None = None,
                     seed: int = 0) -> Embedder:
    """`static` fits the default on the phrases; anything else loads a model already on disk."""
    if spec == STATIC_SPEC:
        return fit_static_embedder(phrases, counts, seed=seed)
    if spec.startswith(f"{STATIC_SPEC}:"):
        return fit_static_embedder(phrases, counts, dim=int(spec.split(":", 1)[1]), seed=seed)
    return Embedder(_load_sentence_transformer(spec), spec)
