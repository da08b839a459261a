"""Context-efficiency experiment: regular vs hybrid token counts on held-out documents.

For each similarity threshold it measures tokens per document, the reduction, glyph usage,
documents per context window, and how much meaning survives a round trip (encode, then expand each
glyph to its family's representative phrase), measured twice: cosine under the tape's embedder, and
word-level token F1, which does not depend on the embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.hybrid import HybridTokenizer
from glyph_dist.fgt.ingest import source_documents
from glyph_dist.metrics import token_f1
from glyph_dist.progress import Steps

DEFAULT_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 ... 0.95
WINDOW = 2048


def load_documents(paths: Sequence[Path | str]) -> list[str]:
    documents = [d for p in paths for d in source_documents(Path(p))]
    if not documents:
        raise GlyphDistError(f"no documents in {', '.join(map(str, paths))}")
    return documents


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def measure_threshold(hybrid: HybridTokenizer, plans, regular_tokens: np.ndarray, originals: list[str],
                      original_vectors: np.ndarray, threshold: float, window: int) -> dict:
    """All figures for one threshold."""
    decisions = [hybrid.decisions(p, threshold) for p in plans]
    hybrid_ids = hybrid.encode_pieces([hybrid.pieces(d) for d in decisions])
    hybrid_tokens = np.array([len(ids) for ids in hybrid_ids], dtype=np.float64)
    expanded = [hybrid.decode_hybrid_with_expansion(ids) for ids in hybrid_ids]
    coded = [d for doc in decisions for d in doc if d.glyph is not None]
    n_sentences = sum(len(doc) for doc in decisions)
    doc_cosine = _row_cosine(original_vectors, hybrid.tape.embedder.encode(expanded))
    doc_f1 = np.array([token_f1(e, o) for e, o in zip(expanded, originals)])
    representatives = [hybrid.tape.records[d.family_id].representative for d in coded]
    phrase_cosine = (_row_cosine(hybrid.tape.embedder.encode([d.text for d in coded]),
                                 hybrid.tape.embedder.encode(representatives)) if coded else np.array([np.nan]))
    phrase_f1 = np.array([token_f1(r, d.text) for r, d in zip(representatives, coded)] or [np.nan])
    mean_regular, mean_hybrid = regular_tokens.mean(), hybrid_tokens.mean()
    return {
        "threshold": threshold,
        "tokens_regular_mean": float(mean_regular),
        "tokens_hybrid_mean": float(mean_hybrid),
        "token_reduction": float(1.0 - hybrid_tokens.sum() / regular_tokens.sum()),
        "compression_ratio": float(regular_tokens.sum() / hybrid_tokens.sum()),
        "glyph_usage": len(coded) / max(n_sentences, 1),
        "docs_per_window_regular": float(window / mean_regular),
        "docs_per_window_hybrid": float(window / mean_hybrid),
        "doc_cosine_mean": float(doc_cosine.mean()),
        "doc_token_f1_mean": float(doc_f1.mean()),
        "glyph_phrase_cosine_mean": float(np.nanmean(phrase_cosine)) if coded else None,
        "glyph_phrase_token_f1_mean": float(np.nanmean(phrase_f1)) if coded else None,
    }


def run_efficiency(hybrid: HybridTokenizer, documents: list[str],
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS, window: int = WINDOW,
                   quiet: bool = False) -> dict:
    """The threshold sweep over the documents, with what a reader needs to trust it."""
    thresholds = sorted(thresholds)
    steps = Steps(1 + len(thresholds), quiet)
    with steps.step(f"segment, embed and look up {len(documents):,} documents"):
        plans = hybrid.plan(documents)
        originals = [" ".join(p.sentences) for p in plans]
        regular_tokens = np.array([len(ids) for ids in hybrid.encode_regular(documents)], dtype=np.float64)
        original_vectors = hybrid.tape.embedder.encode(originals)
        tape_phrases = hybrid.tape.phrase_texts()
        sentences = [s for p in plans for s in p.sentences]
    rows = []
    for threshold in thresholds:
        with steps.step(f"threshold {threshold:.2f}"):
            rows.append(measure_threshold(hybrid, plans, regular_tokens, originals, original_vectors,
                                          threshold, window))
    return {
        "tape": str(hybrid.tape.path),
        "tape_families": len(hybrid.tape.records),
        "embedder": hybrid.tape.embedder.spec,
        "tokenizer": type(hybrid.base).__name__ + f" (vocab {len(hybrid.base)}, with glyph tokens)",
        "window": window,
        "n_documents": len(documents),
        "n_sentences": len(sentences),
        "heldout_sentences_seen_in_tape": sum(s in tape_phrases for s in sentences) / max(len(sentences), 1),
        "rows": rows,
    }
