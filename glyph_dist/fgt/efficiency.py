"""Context-efficiency experiment: regular vs hybrid token counts on held-out documents.

For each similarity threshold, and for each kind of code (`glyph`: a family's code replaces the
phrase; `residual`: the hybrid tokenizer's decision rule between verbatim, glyph and glyph plus
residual), it measures tokens per document, the reduction, glyph and residual usage, documents per
context window, and how much survives a round trip (encode, then expand each code back to text):
cosine under the tape's embedder, word-level token F1 (embedder-free), the exact reconstruction
rate (the share of sentences whose expansion is the sentence, character for character), the share
of documents whose round trip through token ids rebuilds them exactly, and sentences per 1,000
tokens (how much history a context of that many tokens holds, in whatever form).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.codec import decode_residual
from glyph_dist.fgt.hybrid import CODES, HybridTokenizer, PhraseDecision
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


def expanded_phrase(hybrid: HybridTokenizer, decision: PhraseDecision) -> str:
    """What a reader gets back for one sentence: the sentence, its family's representative, or the
    phrase its residual rebuilds."""
    if decision.glyph is None:
        return decision.text
    return decode_residual(hybrid.tape.records[decision.family_id].representative, decision.residual or "")


def measure_threshold(hybrid: HybridTokenizer, plans, regular_tokens: np.ndarray, originals: list[str],
                      original_vectors: np.ndarray, threshold: float, window: int, codes: str = "glyph") -> dict:
    """All figures for one threshold and kind of code."""
    decisions = [hybrid.decisions(p, threshold, codes) for p in plans]
    hybrid_ids = hybrid.encode_pieces([hybrid.pieces(d) for d in decisions])
    hybrid_tokens = np.array([len(ids) for ids in hybrid_ids], dtype=np.float64)
    expanded = [hybrid.decode_hybrid_with_expansion(ids) for ids in hybrid_ids]
    flat = [d for doc in decisions for d in doc]
    coded = [d for d in flat if d.glyph is not None]
    exact = sum(expanded_phrase(hybrid, d) == d.text for d in flat) / max(len(flat), 1)
    doc_cosine = _row_cosine(original_vectors, hybrid.tape.embedder.encode(expanded))
    doc_f1 = np.array([token_f1(e, o) for e, o in zip(expanded, originals)])
    coded_expanded = [expanded_phrase(hybrid, d) for d in coded]
    phrase_cosine = (_row_cosine(hybrid.tape.embedder.encode([d.text for d in coded]),
                                 hybrid.tape.embedder.encode(coded_expanded)) if coded else np.array([np.nan]))
    phrase_f1 = np.array([token_f1(e, d.text) for e, d in zip(coded_expanded, coded)] or [np.nan])
    mean_regular, mean_hybrid = regular_tokens.mean(), hybrid_tokens.mean()
    return {
        "codes": codes,
        "threshold": threshold,
        "tokens_regular_mean": float(mean_regular),
        "tokens_hybrid_mean": float(mean_hybrid),
        "token_reduction": float(1.0 - hybrid_tokens.sum() / regular_tokens.sum()),
        "compression_ratio": float(regular_tokens.sum() / hybrid_tokens.sum()),
        "glyph_usage": len(coded) / max(len(flat), 1),
        "residual_usage": sum(d.residual is not None for d in flat) / max(len(flat), 1),
        "docs_per_window_regular": float(window / mean_regular),
        "docs_per_window_hybrid": float(window / mean_hybrid),
        "doc_cosine_mean": float(doc_cosine.mean()),
        "doc_token_f1_mean": float(doc_f1.mean()),
        "exact_reconstruction_rate": exact,
        "doc_exact_rate": float(np.mean([e == o for e, o in zip(expanded, originals)])),
        "sentences_per_1k_tokens": float(1e3 * len(flat) / hybrid_tokens.sum()),
        "glyph_phrase_cosine_mean": float(np.nanmean(phrase_cosine)) if coded else None,
        "glyph_phrase_token_f1_mean": float(np.nanmean(phrase_f1)) if coded else None,
    }


def run_efficiency(hybrid: HybridTokenizer, documents: list[str],
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS, window: int = WINDOW,
                   quiet: bool = False) -> dict:
    """The threshold sweep over the documents, for glyph codes (`rows`) and residual codes
    (`residual_rows`), with what a reader needs to trust it."""
    thresholds = sorted(thresholds)
    steps = Steps(1 + len(thresholds), quiet)
    with steps.step(f"segment, embed and look up {len(documents):,} documents"):
        plans = hybrid.plan(documents)
        originals = [" ".join(p.sentences) for p in plans]
        regular_tokens = np.array([len(ids) for ids in hybrid.encode_regular(documents)], dtype=np.float64)
        original_vectors = hybrid.tape.embedder.encode(originals)
        tape_phrases = hybrid.tape.phrase_texts()
        sentences = [s for p in plans for s in p.sentences]
    rows: dict[str, list[dict]] = {codes: [] for codes in CODES}
    for threshold in thresholds:
        with steps.step(f"threshold {threshold:.2f}"):
            for codes in CODES:
                rows[codes].append(measure_threshold(hybrid, plans, regular_tokens, originals, original_vectors,
                                                     threshold, window, codes))
    return {
        "tape": str(hybrid.tape.path),
        "tape_families": len(hybrid.tape.records),
        "embedder": hybrid.tape.embedder.spec,
        "tokenizer": type(hybrid.base).__name__ + f" (vocab {len(hybrid.base)}, with glyph tokens)",
        "window": window,
        "n_documents": len(documents),
        "n_sentences": len(sentences),
        "heldout_sentences_seen_in_tape": sum(s in tape_phrases for s in sentences) / max(len(sentences), 1),
        "residual_max_ratio": hybrid.residual_max_ratio,
        "sentences_per_1k_tokens_regular": float(1e3 * len(sentences) / regular_tokens.sum()),
        "rows": rows["glyph"],
        "residual_rows": rows["residual"],
    }
