import numpy as np
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.embedder import Embedder, cooccurrence, ppmi, resolve_embedder


def test_cooccurrence_counts_pairs_within_a_phrase_only():
    counts = cooccurrence([[0, 1], [2, 3]], [1.0, 2.0], vocab_size=4, window=5).toarray()
    assert counts[0, 1] == counts[1, 0] == 1.0
    assert counts[2, 3] == 2.0
    assert counts[1, 2] == 0.0  # never across phrases


def test_ppmi_is_positive_and_keeps_associated_pairs():
    counts = cooccurrence([[0, 1]] * 10 + [[2, 3]] * 10 + [[0, 3]], [1.0] * 21, vocab_size=4)
    matrix = ppmi(counts).toarray()
    assert (matrix >= 0).all()
    assert matrix[0, 1] > matrix[0, 3]
    assert matrix[1, 2] == 0  # never seen together


def test_tape_embedder_is_a_model_of_the_corpus(tape):
    vectors = tape.embedder.encode([
        "I want to book a table for two people.",
        "Please reserve a table for 2 at the restaurant.",
        "What time does the bus to Seattle leave?",
        "When does the coach to Seattle depart?",
    ])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[0, 3]
    assert similarity[2, 3] > similarity[2, 0] and similarity[2, 3] > similarity[2, 1]


def test_saved_embedder_encodes_identically(tape, tmp_path):
    texts = ["Find me a hotel in Paris.", "Thanks, that is all."]
    tape.embedder.save(tmp_path / "e")
    assert np.array_equal(Embedder.load(tmp_path / "e").encode(texts), tape.embedder.encode(texts))


def test_static_fit_is_deterministic():
    phrases = [f"please book {n} seats for the {s} show" for n in ("two", "four", "six") for s in ("early", "late")]
    phrases += [f"the {w} weather in {c} today" for w in ("sunny", "rainy") for c in ("Paris", "Rome", "Oslo")]
    a = resolve_embedder("static:8", phrases, seed=3).encode(phrases)
    b = resolve_embedder("static:8", phrases, seed=3).encode(phrases)
    assert a.shape == (len(phrases), 8) and np.array_equal(a, b)


def test_unknown_embedder_is_a_clear_error(tmp_path):
    with pytest.raises(GlyphDistError, match="unknown embedder"):
        resolve_embedder(str(tmp_path / "no-such-model"), ["some phrase here"])


def test_static_fast_path_matches_the_sentence_transformers_pipeline(tape):
    texts = ["Book a table for two.", "", "What time is the train to Boston tomorrow morning?"] * 50
    fast = tape.embedder.encode(texts)
    reference = tape.embedder.model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    assert np.allclose(fast, reference, atol=1e-6)
