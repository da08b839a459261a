"""Tape build: ingest -> tokenizer -> embed -> cluster -> glyph codes -> fractal addresses -> store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from glyph_dist import __version__
from glyph_dist.fgt.address import assign_addresses
from glyph_dist.fgt.bpe import as_hf_tokenizer, train_bpe
from glyph_dist.fgt.cluster import build_families, kmeans
from glyph_dist.fgt.codec import DEFAULT_ALPHABET_SIZE, GlyphCodec
from glyph_dist.fgt.embedder import STATIC_SPEC, resolve_embedder
from glyph_dist.fgt.ingest import PhraseFilter, ingest
from glyph_dist.fgt.store import load_tokenizer, write_tape
from glyph_dist.progress import Steps

DEFAULT_TOKENIZER = "bpe"


@dataclass(frozen=True)
class TapeConfig:
    clusters: int = 1024
    embedder: str = STATIC_SPEC
    tokenizer: str = DEFAULT_TOKENIZER
    seed: int = 0
    depth: int = 6
    projection: str = "pca"
    alphabet_size: int = DEFAULT_ALPHABET_SIZE
    bpe_vocab_size: int = 8000
    kmeans_iterations: int = 20


def build_tape(corpus: Sequence[Path | str], out: Path | str, config: TapeConfig = TapeConfig(),
               phrase_filter: PhraseFilter = PhraseFilter(), quiet: bool = False) -> Path:
    """Build a tape from the corpus files under `out`; returns the new version directory."""
    steps = Steps(7, quiet)
    with steps.step("ingest phrases"):
        phrases = ingest(corpus, phrase_filter)
        texts = [p.text for p in phrases]
        counts = [p.count for p in phrases]
    with steps.step(f"{'train BPE tokenizer' if config.tokenizer == DEFAULT_TOKENIZER else 'load tokenizer'}"):
        if config.tokenizer == DEFAULT_TOKENIZER:
            tokenizer = as_hf_tokenizer(train_bpe(texts, vocab_size=config.bpe_vocab_size))
        else:
            tokenizer = load_tokenizer(config.tokenizer)
    with steps.step(f"embed {len(texts):,} phrases ({config.embedder})"):
        embedder = resolve_embedder(config.embedder, texts, counts, seed=config.seed)
        vectors = embedder.encode(texts)
    with steps.step(f"k-means, K={config.clusters}"):
        centroids = kmeans(vectors, config.clusters, seed=config.seed, niter=config.kmeans_iterations)
    with steps.step("family metadata"):
        families, phrase_family, phrase_similarity = build_families(phrases, vectors, centroids)
    with steps.step("glyph codes and fractal addresses"):
        codec = GlyphCodec(config.alphabet_size)
        glyphs = [codec.encode(f.family_id) for f in families]
        addresses, points = assign_addresses(
            np.stack([f.centroid for f in families]), config.depth, config.projection, config.seed)
    with steps.step("write tape"):
        meta = {
            **asdict(config),
            "embedder": embedder.spec,
            "corpus": [str(p) for p in corpus],
            "n_phrases": len(phrases),
            "n_occurrences": int(sum(counts)),
            "phrase_filter": asdict(phrase_filter),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "glyph_dist_version": __version__,
        }
        path = write_tape(Path(out), meta, families, glyphs, addresses, points, phrases,
                          phrase_family, phrase_similarity, embedder, tokenizer)
    if not quiet:
        print(f"tape {path}: {len(families):,} families from {len(phrases):,} phrases", flush=True)
    return path
