"""Model-free text metrics: small functions over strings."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+")


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
