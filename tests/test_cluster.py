import numpy as np
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.cluster import build_families, kmeans
from glyph_dist.fgt.ingest import Phrase


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(8, dtype=np.float32)[:3]
    vectors = np.repeat(centres, 20, axis=0) + 0.05 * rng.standard_normal((60, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    phrases = [Phrase(f"id{i}", f"phrase {i}", count=1 + (i < 20) * 9) for i in range(60)]
    return phrases, vectors


def test_families_recover_blobs_ranked_by_frequency():
    phrases, vectors = _blobs()
    centroids = kmeans(vectors, 3, seed=1)
    families, family_of, similarity = build_families(phrases, vectors, centroids, n_examples=4)
    assert sorted(f.size for f in families) == [20, 20, 20]
    assert [f.family_id for f in families] == [0, 1, 2]
    assert families[0].frequency == 200 and set(family_of[:20]) == {0}  # the heavy blob ranks first
    for family in families:
        members = np.flatnonzero(family_of == family.family_id)
        best = members[np.argmax(similarity[members])]
        assert family.representative == phrases[best].text == family.examples[0]
        assert len(family.examples) == 4
        assert family.coherence == pytest.approx(similarity[members].mean(), abs=1e-6)
        assert 0.9 < family.coherence <= 1.0


def test_more_clusters_than_phrases_is_a_clear_error():
    phrases, vectors = _blobs()
    with pytest.raises(GlyphDistError, match="cannot make 100 families from 60 phrases"):
        kmeans(vectors, 100)
