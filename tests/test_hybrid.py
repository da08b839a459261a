import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.bpe import as_hf_tokenizer, train_bpe
from glyph_dist.fgt.codec import decode_residual
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN, HybridTokenizer

TEXT = ("I want to make a restaurant reservation for 2 people. Have a great day! "
        "Zebra quantum marmalade orbits Neptune sideways.")


def test_encode_decode_and_expand(hybrid, tape):
    ids, details = hybrid.encode_hybrid(TEXT, return_details=True)
    assert [d["text"] for d in details] == [
        "I want to make a restaurant reservation for 2 people.", "Have a great day!",
        "Zebra quantum marmalade orbits Neptune sideways."]
    assert [d["decision"] for d in details] == ["glyph", "glyph", "text"]
    assert all(d["similarity"] >= 0.75 for d in details[:2]) and details[2]["similarity"] < 0.75
    decoded = hybrid.decode_hybrid(ids)
    glyphs = [d["glyph"] for d in details[:2]]
    assert decoded == (f"{GLYPH_OPEN}{glyphs[0]}{GLYPH_CLOSE} {GLYPH_OPEN}{glyphs[1]}{GLYPH_CLOSE} "
                       "Zebra quantum marmalade orbits Neptune sideways.")
    expanded = hybrid.decode_hybrid_with_expansion(ids)
    representatives = [tape.records[d["family_id"]].representative for d in details[:2]]
    assert expanded == " ".join(representatives) + " Zebra quantum marmalade orbits Neptune sideways."
    assert len(ids) < len(hybrid.encode_regular([TEXT])[0])


def test_glyph_code_costs_its_length_plus_two_tokens(hybrid):
    ids, details = hybrid.encode_hybrid("Have a great day!", return_details=True)
    assert ids[0] == hybrid.open_id and ids[-1] == hybrid.close_id
    assert len(ids) == len(details[0]["glyph"]) + 2


def test_threshold_extremes(tape):
    strict = HybridTokenizer(tape, threshold=1.0)
    ids, details = strict.encode_hybrid(TEXT, return_details=True)
    assert all(d["glyph"] is None for d in details)
    assert ids == strict.encode_regular([TEXT])[0]
    assert strict.decode_hybrid(ids) == TEXT
    loose = HybridTokenizer(tape, threshold=0.0)
    assert all(d["glyph"] for d in loose.encode_hybrid(TEXT, return_details=True)[1])


def test_filtered_sentences_stay_text(hybrid):
    _, details = hybrid.encode_hybrid("Ok. Have a great day!", return_details=True)
    assert details[0] == {"text": "Ok.", "similarity": None, "family_id": -1, "glyph": None, "residual": None,
                          "decision": "text"}


def test_glyph_tokens_are_added_once(tape, hybrid):
    again = HybridTokenizer(tape, base=hybrid.base)
    assert len(again.base) == len(hybrid.base)
    assert again.base.all_special_tokens.count(GLYPH_OPEN) == 1
    assert GLYPH_OPEN not in tape.tokenizer.get_vocab(), "the tape's own tokenizer is left unchanged"


def test_wraps_any_local_tokenizer(tape, tmp_path):
    other = as_hf_tokenizer(train_bpe(["a tiny corpus for a tiny tokenizer"] * 10, vocab_size=300))
    other.save_pretrained(tmp_path / "tok")
    from glyph_dist.fgt.store import load_tokenizer

    hybrid = HybridTokenizer(tape, base=load_tokenizer(tmp_path / "tok"))
    ids = hybrid.encode_hybrid(TEXT)
    assert hybrid.decode_hybrid(ids).endswith("Zebra quantum marmalade orbits Neptune sideways.")
    with pytest.raises(GlyphDistError, match="unknown tokenizer"):
        load_tokenizer(tmp_path / "missing")


def test_unknown_glyph_on_expansion_is_a_clear_error(hybrid, tape):
    beyond = tape.codec.encode(len(tape.records) + 5)
    with pytest.raises(GlyphDistError, match="not on this tape"):
        hybrid.expand(f"{GLYPH_OPEN}{beyond}{GLYPH_CLOSE}")


def test_bad_threshold(tape):
    with pytest.raises(GlyphDistError, match="threshold"):
        HybridTokenizer(tape, threshold=1.5)


_LINE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).map(
    lambda t: " ".join(t.split())).filter(bool)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.sampled_from(["[t0 user]", "[assistant]", "[t12 tool]"]), _LINE_TEXT,
                                st.booleans()), min_size=1, max_size=6))
def test_lines_count_additively_under_the_tape_tokenizer(hybrid, tape, lines):
    assert hybrid.counts_lines_additively
    glyph = tape.records[0].glyph
    contents = [f" {GLYPH_OPEN}{glyph}{GLYPH_CLOSE}" if as_glyph else f" {text}" for _, text, as_glyph in lines]
    prefixes = [prefix for prefix, _, _ in lines]
    separate = sum(len(ids) for ids in hybrid.token_ids(prefixes + contents))
    joined = len(hybrid.token_ids(["\n".join(p + c for p, c in zip(prefixes, contents))])[0])
    assert joined == separate + (len(lines) - 1) * len(hybrid.token_ids(["\n"])[0])


def test_tokenizers_with_normalisers_or_prefix_spaces_are_not_additive(tape):
    from tokenizers import normalizers, pre_tokenizers

    lowered = train_bpe(["Some text to learn from."] * 10, vocab_size=300)
    lowered.normalizer = normalizers.Lowercase()
    assert not HybridTokenizer(tape, base=as_hf_tokenizer(lowered)).counts_lines_additively
    spaced = train_bpe(["Some text to learn from."] * 10, vocab_size=300)
    spaced.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    assert not HybridTokenizer(tape, base=as_hf_tokenizer(spaced)).counts_lines_additively


def _long_families(tape):
    """Families whose representative has at least ten words, each with its last word swapped for another."""
    for record in tape.records:
        if len(record.representative.split()) >= 10 and record.representative[-1] in ".?!":
            last = record.representative.split()[-1].rstrip(".?!")
            cut = record.representative.rindex(last)
            yield record, record.representative[:cut] + "Zanzibar" + record.representative[-1]


def _long_family(tape):
    return next(_long_families(tape))


def test_residual_decision_rule(tape):
    hybrid = HybridTokenizer(tape, codes="residual")
    record, changed = _long_family(tape)
    k = record.family_id
    other = "Zebra quantum marmalade orbits Neptune sideways and then some more words follow here."
    cases = [(record.representative, k), (record.representative.upper(), k), (changed, k), (changed, -1),
             (other, k), (changed.replace(" ", " | ", 1), k), (record.representative[:-1] + "!", k)]
    renderings = hybrid.render([text for text, _ in cases], [k for _, k in cases])
    assert [r.kind for r in renderings] == ["glyph", "text", "residual", "text", "text", "text", "residual"]
    assert renderings[-1].residual.endswith("→!⟩"), "punctuation differs: the glyph alone would lose it"
    rendered = hybrid.render([changed], [k])[0]
    code = f"{GLYPH_OPEN}{record.glyph}{GLYPH_CLOSE}"
    assert rendered.content == code + rendered.residual and "Zanzibar" in rendered.residual
    assert decode_residual(record.representative, rendered.residual) == changed
    verbatim = len(hybrid.token_ids([changed])[0])
    assert rendered.tokens == len(hybrid.encode_pieces([[code, rendered.residual]])[0]) < verbatim
    strict = HybridTokenizer(tape, codes="residual", residual_max_ratio=rendered.tokens / verbatim)
    assert strict.render([changed], [k])[0].kind == "text", "used only when cheaper than the ratio allows"


def test_residual_codes_round_trip_through_token_ids(tape):
    hybrid = HybridTokenizer(tape, threshold=0.0, codes="residual")
    families = list(itertools.islice(_long_families(tape), 10))
    text = " ".join([TEXT, *(f"{changed} {record.representative}" for record, changed in families)])
    ids, decisions = hybrid.encode_hybrid_batch([text])[0]
    assert {"text", "glyph", "residual"} <= {d.kind for d in decisions}
    assert hybrid.expand(hybrid.decode_hybrid(ids)) == " ".join(d.text for d in decisions)


def test_expand_rebuilds_a_context_with_residuals(hybrid, tape):
    record, changed = _long_family(tape)
    code = f"{GLYPH_OPEN}{record.glyph}{GLYPH_CLOSE}"
    residual = hybrid.render([changed], [record.family_id])[0]
    context = f"[t0 user] Hello there. {code}{residual.residual}\n[t1 assistant] {code} Fine. {code} ⟨not a residual⟩"
    assert hybrid.expand(context) == (f"[t0 user] Hello there. {changed}\n[t1 assistant] {record.representative} Fine. "
                                      f"{record.representative} ⟨not a residual⟩")
    with pytest.raises(GlyphDistError, match="does not fit the representative"):
        hybrid.expand(f"{code}⟨no such words→x⟩")


def test_bad_codes(tape):
    with pytest.raises(GlyphDistError, match="unknown codes"):
        HybridTokenizer(tape, codes="lossy")
    with pytest.raises(GlyphDistError, match="residual_max_ratio"):
        HybridTokenizer(tape, residual_max_ratio=0)


def test_expanded_context_credits_residuals_and_not_lossy_glyphs(hybrid, tape):
    """The evidence check on an expanded context (the bench's evidence_recall_expanded): a residual
    keeps an evidence sentence, a glyph alone for a sentence other than its representative does not."""
    from glyph_dist.models.answerers import ContextRecall, QARequest

    record, changed = _long_family(tape)
    code = f"{GLYPH_OPEN}{record.glyph}{GLYPH_CLOSE}"
    residual = hybrid.render([changed], [record.family_id])[0].residual

    def present(context: str) -> bool:
        return ContextRecall.recalled(QARequest("q?", context, "Zanzibar", ("Hello there.", changed)))

    with_residual = f"[t3 user] Hello there. {code}{residual}\n[t4 assistant] Fine."
    assert not present(with_residual) and present(hybrid.expand(with_residual))
    assert not present(hybrid.expand(f"[t3 user] Hello there. {code}\n[t4 assistant] Fine."))
