"""Answerers: turn (question, context) requests into answer strings.

- `context-recall` (model-free) returns the gold answer when every evidence turn's text occurs
  verbatim in the context (runs of whitespace collapsed to one space on both sides), else "". Under
  the rule judge it scores "a model could have answered from this context": an upper bound that
  measures how much of the evidence a context strategy kept word for word. Glyph-coded evidence does
  not count as present, and a question without evidence turns is never counted as answerable.
- `hf:<dir>` (or a plain model directory) is a local Hugging Face causal LM answering greedily
  from the prompt `PROMPT`; the answer is the first line of its continuation.

Model-free answerers never import torch or transformers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from glyph_dist.models.registry import build

PROMPT = "Context:\n{context}\n\nQuestion: {question}\nAnswer:"


@dataclass(frozen=True)
class QARequest:
    question: str
    context: str  # exactly the context text that enters the prompt
    answer: str  # gold answer: only model-free answerers may look at it
    evidence_texts: tuple[str, ...]  # texts of the evidence turns


class Answerer(ABC):
    name: str

    @abstractmethod
    def answer(self, requests: list[QARequest]) -> list[str]:
        """One answer per request, in order."""

    def surprise(self, texts: list[str]) -> list[float] | None:
        """The answering model's mean token NLL of each text; None when there is no model."""
        return None


def _collapse(text: str) -> str:
    return " ".join(text.split())


class ContextRecall(Answerer):
    """The gold answer when all evidence texts are verbatim in the context, else ""."""

    name = "context-recall"

    def answer(self, requests: list[QARequest]) -> list[str]:
        return [r.answer if self.recalled(r) else "" for r in requests]

    @staticmethod
    def recalled(request: QARequest) -> bool:
        context = _collapse(request.context)
        return bool(request.evidence_texts) and all(_collapse(t) in context for t in request.evidence_texts)


class HFAnswerer(Answerer):
    """A local causal LM: greedy, batched, the answer cut at the first newline."""

    def __init__(self, path: str, max_new_tokens: int = 32, batch_size: int = 8, device: str | None = None):
        from glyph_dist.models.hf import LocalLM  # torch and transformers load only with a model

        self.lm = LocalLM(path, device)
        self.name = f"hf:{self.lm.name}"
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    def surprise(self, texts: list[str]) -> list[float]:
        return self.lm.mean_nll(texts, self.batch_size)

    def answer(self, requests: list[QARequest]) -> list[str]:
        prompts = [PROMPT.format(context=r.context, question=r.question) for r in requests]
        return self.lm.generate(prompts, self.max_new_tokens, self.batch_size)


ANSWERERS = {"context-recall": ContextRecall}
PREFIXED = {"hf": HFAnswerer}


def get_answerer(spec: str, **options) -> Answerer:
    """`context-recall`, `hf:<model dir>`, or a plain model directory."""
    if spec not in ANSWERERS and Path(spec).expanduser().is_dir():
        spec = f"hf:{spec}"
    return build("answerer", spec, ANSWERERS, PREFIXED, **options)
