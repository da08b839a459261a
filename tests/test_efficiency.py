import json

import numpy as np
import pytest

from glyph_dist.fgt.efficiency import load_documents, measure_threshold, run_efficiency
from glyph_dist.fgt.hybrid import DocumentPlan, HybridTokenizer
from glyph_dist.reports.efficiency import write_report
from tests.test_hybrid import _long_family


def test_threshold_sweep_on_heldout_dialogues(hybrid, sgd_corpus, tmp_path):
    documents = load_documents([sgd_corpus["heldout"]])[:40]
    result = run_efficiency(hybrid, documents, thresholds=[0.95, 0.5, 0.75])
    rows = result["rows"]
    assert [r["threshold"] for r in rows] == [0.5, 0.75, 0.95]
    assert result["n_documents"] == 40 and 0.0 <= result["heldout_sentences_seen_in_tape"] < 1.0
    reduction = [r["token_reduction"] for r in rows]
    usage = [r["glyph_usage"] for r in rows]
    f1 = [r["doc_token_f1_mean"] for r in rows]
    assert reduction == sorted(reduction, reverse=True) and reduction[0] > 0.2
    assert usage == sorted(usage, reverse=True)
    assert f1 == sorted(f1) and 0 < f1[0] < f1[-1] <= 1.0
    for r in rows:
        assert np.isclose(r["tokens_hybrid_mean"], r["tokens_regular_mean"] * (1 - r["token_reduction"]))
        assert np.isclose(r["docs_per_window_hybrid"], 2048 / r["tokens_hybrid_mean"])
        assert -1.0 <= r["doc_cosine_mean"] <= 1.0
    exact = [r["exact_reconstruction_rate"] for r in rows]
    assert exact == sorted(exact) and 0 < exact[0] < exact[-1] < 1.0
    residual = result["residual_rows"]
    assert [r["codes"] for r in residual] == ["residual"] * 3 and [r["codes"] for r in rows] == ["glyph"] * 3
    for glyph_row, residual_row in zip(rows, residual):
        assert residual_row["exact_reconstruction_rate"] > glyph_row["exact_reconstruction_rate"]
        assert residual_row["exact_reconstruction_rate"] == 1.0 and residual_row["doc_exact_rate"] == 1.0
        assert residual_row["doc_token_f1_mean"] == 1.0 and residual_row["residual_usage"] <= residual_row["glyph_usage"]
        assert residual_row["sentences_per_1k_tokens"] >= result["sentences_per_1k_tokens_regular"]

    paths = write_report(result, tmp_path / "report")
    assert json.loads(paths["json"].read_text())["rows"] == rows
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["md"].read_text()
    assert "token F1" in markdown and "exact reconstruction" in markdown and markdown.count("\n| 0.") == 6
    assert not list((tmp_path / "report").glob(".*.tmp"))


def test_no_glyphs_means_no_reduction_and_perfect_preservation(tape, sgd_corpus):
    from glyph_dist.fgt.hybrid import HybridTokenizer

    documents = load_documents([sgd_corpus["heldout"]])[:5]
    row = run_efficiency(HybridTokenizer(tape), documents, thresholds=[1.0])["rows"][0]
    assert row["glyph_usage"] == 0.0 and row["token_reduction"] == 0.0
    assert row["doc_token_f1_mean"] == 1.0 and row["glyph_phrase_token_f1_mean"] is None


@pytest.fixture(scope="module")
def hand_made(tape):
    """Three one-sentence documents with families set by hand: a family's representative, the same
    with a word changed (same family), and a sentence without a family."""
    hybrid = HybridTokenizer(tape)
    record, changed = _long_family(tape)
    other = "Zebra quantum marmalade orbits Neptune sideways."
    sentences = [record.representative, changed, other]
    vectors = tape.embedder.encode(sentences)
    plans = [DocumentPlan([s], vectors[i:i + 1], np.array([sim], dtype=np.float32), np.array([fam]))
             for i, (s, sim, fam) in enumerate(zip(sentences, (0.9, 0.9, np.nan), (record.family_id, record.family_id, -1)))]
    regular = np.array([len(ids) for ids in hybrid.encode_regular(sentences)], dtype=np.float64)
    return hybrid, record, plans, regular, sentences, vectors


def _measure(hand_made, threshold, codes):
    hybrid, _, plans, regular, sentences, vectors = hand_made
    return measure_threshold(hybrid, plans, regular, sentences, vectors, threshold, 2048, codes)


def test_efficiency_figures_on_hand_made_documents(hand_made):
    hybrid, record, _, regular, sentences, _ = hand_made
    code_tokens = len(record.glyph) + 2
    glyph = _measure(hand_made, 0.8, "glyph")
    assert glyph["glyph_usage"] == pytest.approx(2 / 3) and glyph["residual_usage"] == 0
    assert glyph["exact_reconstruction_rate"] == pytest.approx(2 / 3) and glyph["doc_exact_rate"] == pytest.approx(2 / 3)
    assert glyph["tokens_hybrid_mean"] == pytest.approx((2 * code_tokens + regular[2]) / 3)
    assert glyph["sentences_per_1k_tokens"] == pytest.approx(3e3 / (2 * code_tokens + regular[2]))
    residual = _measure(hand_made, 0.8, "residual")
    rendered = hybrid.render(sentences[1:2], [record.family_id])[0]
    assert residual["glyph_usage"] == pytest.approx(2 / 3) and residual["residual_usage"] == pytest.approx(1 / 3)
    assert residual["exact_reconstruction_rate"] == 1.0 and residual["doc_exact_rate"] == 1.0
    assert residual["doc_token_f1_mean"] == 1.0 and residual["glyph_phrase_token_f1_mean"] == 1.0
    assert residual["tokens_hybrid_mean"] == pytest.approx((code_tokens + rendered.tokens + regular[2]) / 3)
    for codes in ("glyph", "residual"):
        none = _measure(hand_made, 0.95, codes)
        assert none["glyph_usage"] == 0 and none["token_reduction"] == 0 and none["exact_reconstruction_rate"] == 1.0
        assert none["sentences_per_1k_tokens"] == pytest.approx(3e3 / regular.sum())
