import pytest

from glyph_dist.metrics import token_f1, words


def test_words_lowercase_and_drop_punctuation():
    assert words("Book it, please! 7pm?") == ["book", "it", "please", "7pm"]


@pytest.mark.parametrize("prediction, reference, expected", [
    ("the cat sat", "the cat sat", 1.0),
    ("the cat", "the cat sat down", 2 * (1.0 * 0.5) / 1.5),
    ("dog", "cat", 0.0),
    ("", "", 1.0),
    ("", "cat", 0.0),
])
def test_token_f1(prediction, reference, expected):
    assert token_f1(prediction, reference) == pytest.approx(expected)
