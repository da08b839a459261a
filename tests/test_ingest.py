import json

import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import PhraseFilter, ingest, phrase_id, split_sentences


def test_split_sentences_keeps_closing_quotes_and_breaks_lines():
    text = 'I am "fine." How are you?\nSee you  at five. Bye!'
    assert split_sentences(text) == ['I am "fine."', "How are you?", "See you at five.", "Bye!"]


def test_filters_reject_short_and_symbolic_phrases():
    f = PhraseFilter()
    assert f.accepts("Book a table for two.")
    assert not f.accepts("Yes.")  # too short
    assert not f.accepts("12:30 - 14:45 / 2")  # mostly digits and symbols
    assert not f.accepts("word " * 60)  # too long


def test_exact_duplicates_merge_with_counts_and_stable_ids(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("Book a table for two. Thank you very much.\nThank you very much.\n\nBook a table for two.\n")
    phrases = ingest([corpus])
    assert [(p.text, p.count) for p in phrases] == [("Book a table for two.", 2), ("Thank you very much.", 2)]
    assert phrases[0].phrase_id == phrase_id("Book a table for two.")
    assert ingest([corpus])[0].phrase_id == phrases[0].phrase_id


def test_episodes_and_sgd_dialogues(tmp_path):
    episode = {"episode_id": "e1", "turns": [{"role": "user", "text": "Please find me a hotel."},
                                              {"role": "assistant", "text": "Which city are you visiting?"}]}
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(episode) + "\n")
    assert {p.text for p in ingest([path])} == {"Please find me a hotel.", "Which city are you visiting?"}
    sgd = tmp_path / "dialogues_001.json"
    sgd.write_text(json.dumps([{"dialogue_id": "1_1", "turns": [{"speaker": "USER", "utterance": "Find me a movie please."}]}]))
    assert [p.text for p in ingest([sgd])] == ["Find me a movie please."]


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"turns": [{"text": "A good first line."}]}\n{"turns": [\n')
    with pytest.raises(GlyphDistError, match=r"bad\.jsonl:2: malformed JSON"):
        ingest([path])


def test_episode_without_turn_text_names_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"turns": [{"role": "user"}]}\n')
    with pytest.raises(GlyphDistError, match=r"bad\.jsonl:1: turns\[0\] has no string 'text'"):
        ingest([path])


def test_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("A fine first line here.\nCaf\xe9 au lait is good.\n".encode("latin-1"))
    with pytest.raises(GlyphDistError, match=r"latin1\.txt:2: not valid UTF-8"):
        ingest([path])


def test_empty_corpus_and_missing_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("ok\n\n")
    with pytest.raises(GlyphDistError, match="empty corpus"):
        ingest([empty])
    with pytest.raises(GlyphDistError, match="no such file"):
        ingest([tmp_path / "missing.txt"])


@pytest.mark.parametrize("text", ["Book 2 tables, at 7pm!", "Café für 2 Personen", "日本語 text 42", "", "___ 123"])
def test_letter_count_matches_unicode_letters(text):
    from glyph_dist.fgt.ingest import count_letters

    assert count_letters(text) == sum(c.isalpha() for c in text)
