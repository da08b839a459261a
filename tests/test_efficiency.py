import json

import numpy as np

from glyph_dist.fgt.efficiency import load_documents, run_efficiency
from glyph_dist.reports.efficiency import write_report


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

    paths = write_report(result, tmp_path / "report")
    assert json.loads(paths["json"].read_text())["rows"] == rows
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["md"].read_text()
    assert "token F1" in markdown and "cosine" in markdown and markdown.count("\n| 0.") == 3
    assert not list((tmp_path / "report").glob(".*.tmp"))


def test_no_glyphs_means_no_reduction_and_perfect_preservation(tape, sgd_corpus):
    from glyph_dist.fgt.hybrid import HybridTokenizer

    documents = load_documents([sgd_corpus["heldout"]])[:5]
    row = run_efficiency(HybridTokenizer(tape), documents, thresholds=[1.0])["rows"][0]
    assert row["glyph_usage"] == 0.0 and row["token_reduction"] == 0.0
    assert row["doc_token_f1_mean"] == 1.0 and row["glyph_phrase_token_f1_mean"] is None
