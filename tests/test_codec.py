import pytest
from hypothesis import given
from hypothesis import strategies as st

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.codec import (CJK_START, DEFAULT_ALPHABET_SIZE, RESIDUAL_MARKS, GlyphCodec, decode_residual,
                                   encode_residual)

CODEC = GlyphCodec()


def test_alphabet_is_at_least_2000_distinct_cjk_characters():
    assert DEFAULT_ALPHABET_SIZE >= 2000
    assert len(set(CODEC.alphabet)) == DEFAULT_ALPHABET_SIZE
    assert all(0x4E00 <= ord(c) <= 0x9FFF for c in CODEC.alphabet)


@given(st.integers(min_value=0, max_value=10**12))
def test_id_round_trips(family_id):
    assert CODEC.decode(CODEC.encode(family_id)) == family_id


@given(st.text(alphabet=st.sampled_from(GlyphCodec(7).alphabet), min_size=1, max_size=6))
def test_every_glyph_string_is_the_code_of_one_id(glyph):
    small = GlyphCodec(7)
    assert small.encode(small.decode(glyph)) == glyph


def test_code_lengths_grow_with_id():
    n = DEFAULT_ALPHABET_SIZE
    assert [len(CODEC.encode(i)) for i in (0, n - 1, n, n + n * n - 1, n + n * n)] == [1, 1, 2, 2, 3]
    small = GlyphCodec(3)
    codes = [small.encode(i) for i in range(3 + 9 + 27)]
    assert len(set(codes)) == len(codes)
    assert [len(c) for c in codes] == sorted(len(c) for c in codes)


def test_every_family_of_a_tape_round_trips_and_frequent_families_get_short_codes(tape):
    glyphs = [r.glyph for r in tape.records]
    assert len(set(glyphs)) == len(glyphs)
    assert [tape.codec.decode(g) for g in glyphs] == [r.family_id for r in tape.records]
    frequencies = [r.frequency for r in tape.records]
    assert frequencies == sorted(frequencies, reverse=True)
    assert [len(g) for g in glyphs] == sorted(len(g) for g in glyphs)


def test_invalid_glyphs_are_rejected():
    with pytest.raises(GlyphDistError, match="not in the"):
        CODEC.decode("abc")
    with pytest.raises(GlyphDistError, match="not in the"):
        CODEC.decode(chr(CJK_START + DEFAULT_ALPHABET_SIZE))
    with pytest.raises(GlyphDistError, match="empty"):
        CODEC.decode("")
    with pytest.raises(GlyphDistError):
        CODEC.encode(-1)


_PIECES = st.sampled_from(["a", "table", "for", "4", "two", "7 pm", " ", "  ", ".", ",", "!", "é", "tomorrow", "\t"])
_TEXTS = st.lists(_PIECES, max_size=14).map("".join)


@st.composite
def _edited(draw) -> tuple[str, str]:
    """(phrase, representative): a representative and an edit of it (insertions, deletions, changes)."""
    representative = draw(_TEXTS.filter(bool))
    pieces = list(representative)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(pieces)))
        if draw(st.booleans()) and at < len(pieces):
            del pieces[at]
        else:
            pieces.insert(at, draw(_PIECES))
    return "".join(pieces), representative


@given(st.one_of(_edited(), st.tuples(_TEXTS, _TEXTS.filter(bool))))
def test_residual_rebuilds_the_phrase_exactly(pair):
    phrase, representative = pair
    residual = encode_residual(phrase, representative)
    assert decode_residual(representative, residual) == phrase
    assert (residual == "") == (phrase == representative)


@given(_TEXTS, _TEXTS.filter(bool), st.sampled_from(RESIDUAL_MARKS))
def test_texts_with_residual_marks_have_no_residual(phrase, representative, mark):
    assert encode_residual(phrase + mark, representative) is None
    assert encode_residual(phrase, representative + mark) is None
    assert encode_residual(phrase, "") is None


def test_residual_syntax():
    representative = "A table for 4 at 6 pm today."
    residual = encode_residual("A table for two at 7 pm tomorrow.", representative)
    assert residual == "⟨4→two|6→7|today→tomorrow⟩"
    assert encode_residual("Book a table for 4 at 6 pm today!", representative) == "⟨A→Book a|.→!⟩"
    assert decode_residual(representative, "⟨ at 6 pm→⟩") == "A table for 4 today."
    for bad in ("4→two", "⟨4 two⟩", "⟨→x⟩", "⟨9→x⟩", "⟨today→x|4→y⟩"):
        with pytest.raises(GlyphDistError, match="residual"):
            decode_residual(representative, bad)
