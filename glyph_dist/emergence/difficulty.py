"""Problem difficulty: the reference's surface rule, words + 5 x numbers + 10 x operation words.

Words are the question's alphabetic tokens; numbers are its numerals (`1,200` and `0.5` count
once); operation words are the tokens of `OPERATION_WORDS` (and `%`), which name an arithmetic
step. The score is bucketed easy (< 60), medium (< 120) or hard (>= 120). A second, independent
measure is the number of calculations in the worked solution (`solution_steps`, where the source has one).
"""

from __future__ import annotations

import re

from glyph_dist.emergence.answers import NUMBER

OPERATION_WORDS = frozenset({
    "add", "added", "plus", "sum", "total", "altogether", "combined", "together",
    "more", "less", "fewer", "minus", "difference", "left", "remaining", "remain", "remains",
    "times", "twice", "double", "triple", "half", "each", "per", "every", "product",
    "multiply", "multiplied", "divide", "divided", "split", "share", "shared", "quotient",
    "average", "percent", "%", "ratio", "fraction", "increase", "increased", "decrease", "decreased",
})
BUCKETS = ("easy", "medium", "hard")
BOUNDS = (60, 120)  # easy below the first, hard at or above the second
_TOKEN = re.compile(r"[a-z]+|%")


def features(question: str) -> dict[str, int]:
    """words, numbers, operation_words and the score of a question."""
    tokens = _TOKEN.findall(question.lower())
    words = sum(token != "%" for token in tokens)
    numbers = len(NUMBER.findall(question))
    operations = sum(token in OPERATION_WORDS for token in tokens)
    return {"words": words, "numbers": numbers, "operation_words": operations,
            "score": words + 5 * numbers + 10 * operations}


def bucket(score: int) -> str:
    easy, hard = BOUNDS
    return "easy" if score < easy else "medium" if score < hard else "hard"
