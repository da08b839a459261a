"""FGMS lexical relevance: incremental BM25 against rank_bm25, undoing appends, and rank fusion."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from glyph_dist.fgms.lexical import RRF_K, LexicalIndex, reciprocal_rank_fusion
from glyph_dist.metrics import words

VOCABULARY = ["table", "pm", "booked", "rain", "Sunny", "tomorrow", "Il", "Fornaio", "flight", "to", "the"]
texts = st.lists(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12).map(" ".join), min_size=1, max_size=30)


def bm25(documents: list[str], query: str) -> np.ndarray:
    """rank_bm25's Okapi BM25 of the documents, built from scratch."""
    return BM25Okapi([words(d) for d in documents]).get_scores(words(query))


@settings(max_examples=60, deadline=None)
@given(documents=texts, query=st.lists(st.sampled_from(VOCABULARY + ["absent"]), max_size=5).map(" ".join))
def test_incremental_scores_are_rank_bm25_okapi_of_every_record_written_so_far(documents, query):
    index = LexicalIndex()
    for k, text in enumerate(documents, start=1):
        index.append(text)
        assert index.scores(query) == pytest.approx(bm25(documents[:k], query), rel=1e-4, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(documents=texts, keep=st.integers(0, 30), query=st.sampled_from(VOCABULARY))
def test_truncate_is_the_index_of_the_records_kept(documents, keep, query):
    keep = min(keep, len(documents))
    index, fresh = LexicalIndex(), LexicalIndex()
    for text in documents:
        index.append(text)
    for text in documents[:keep]:
        fresh.append(text)
    index.truncate(keep)
    assert (index.size, index.total_length, index.postings) == (fresh.size, fresh.total_length, fresh.postings)
    assert [index.df[index.term_ids[t]] for t in fresh.term_ids] == list(fresh.df)
    assert index.scores(query).tolist() == fresh.scores(query).tolist()



@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(1, 200), depth=st.integers(1, 250), rankings=st.integers(1, 3))
def test_reciprocal_rank_fusion_properties(data, n, depth, rankings):
    lists = [np.array(data.draw(st.lists(st.floats(-1, 1, width=32), min_size=n, max_size=n)), dtype=np.float32)
             for _ in range(rankings)]
    weights = data.draw(st.lists(st.floats(0.05, 1), min_size=rankings, max_size=rankings))
    fused = reciprocal_rank_fusion(lists, depth, weights)
    assert fused.shape == (n,) and (fused >= 0).all() and (fused <= 1 + 1e-6).all()
    assert (fused[np.all([s <= 0 for s in lists], axis=0)] == 0).all(), "items no ranking scores above 0 get nothing"
    assert fused == pytest.approx(reciprocal_rank_fusion(lists[::-1], depth, weights[::-1]), abs=1e-6), \
        "the order of the rankings is irrelevant"
    for a, b in zip(*np.nonzero(np.all([s[:, None] > s[None, :] for s in lists], axis=0))):
        assert fused[a] >= fused[b], "an item every ranking prefers never fuses lower"
    best = np.all([s == s.max() for s in lists], axis=0) & np.all([s > 0 for s in lists], axis=0)
    if best.sum() == 1 and all((s == s.max()).sum() == 1 for s in lists):
        assert fused[best][0] == pytest.approx(1.0), "first in every ranking scores 1"


def test_the_heavier_ranking_wins_where_two_disagree():
    dense = np.array([0.9, 0.5, 0.1], dtype=np.float32)  # prefers item 0
    lexical = np.array([2.0, 3.0, 1.0], dtype=np.float32)  # prefers item 1, then item 0
    assert np.argmax(reciprocal_rank_fusion([dense, lexical], 3, [0.7, 0.3])) == 0
    assert np.argmax(reciprocal_rank_fusion([dense, lexical], 3, [0.3, 0.7])) == 1
    equal = reciprocal_rank_fusion([dense, lexical], 3)
    assert equal[0] == pytest.approx(equal[1]), "equal weights: first in one and second in the other tie"


def test_fusion_of_one_ranking_orders_as_the_ranking():
    scores = np.array([0.1, 0.9, 0.5, 0.0, 0.7], dtype=np.float32)
    fused = reciprocal_rank_fusion([scores], depth=3)
    assert fused.tolist() == pytest.approx([0, 1.0, (RRF_K + 1) / (RRF_K + 3), 0, (RRF_K + 1) / (RRF_K + 2)])
