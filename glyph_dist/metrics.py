"""Model-free text metrics: small functions over strings.

Answers are normalised SQuAD-style (`normalize`) before `exact_match`, `f1`, `contains` and `success`
compare them with the gold answer.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation dropped."""
    return _WORD.findall(text.lower())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of word precision and recall (bag of words); 1.0 when both are empty."""
    pred, ref = Counter(words(prediction)), Counter(words(reference))
    if not pred and not ref:
        return 1.0
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def normalize(text: str) -> str:
    """SQuAD-style answer normalisation (punctuation covers every non-word, non-space character)."""
    text = _ARTICLES.sub(" ", _PUNCTUATION.sub("", text.lower()))
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


def f1(prediction: str, gold: str) -> float:
    return token_f1(normalize(prediction), normalize(gold))


def contains(prediction: str, gold: str) -> float:
    """1.0 when the non-empty normalised gold occurs in the normalised prediction as whole words."""
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    return float(bool(ref) and any(pred[i:i + len(ref)] == ref for i in range(len(pred) - len(ref) + 1)))


def success(prediction: str, gold: str) -> float:
    """Exact match or containment with a non-empty gold; an exact match of a non-empty gold is contained."""
    return contains(prediction, gold)
