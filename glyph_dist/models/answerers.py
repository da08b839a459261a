"""Answerers: turn (question, context) requests into answer strings.

- `context-recall` (model-free) returns the gold answer when every evidence turn's text occurs
  verbatim in the context (runs of whitespace collapsed to one space on both sides), else "". Under
  the rule judge it scores "a model could have answered from this context": an upper bound that
  measures how much of the evidence a context strategy kept word for word (reports call it evidence
  recall, never EM). Glyph-coded evidence does not count as present, and a question without evidence
  turns is never counted as answerable.
- `hf:MODEL` (or a bare MODEL: a catalog name such as `smollm2`, or a local directory) is a Hugging
  Face causal LM answering greedily. An instruct model (its tokenizer has a chat template) gets
  `CHAT_PROMPT` as a user message, which asks for a few words; any other model continues `PROMPT`.
  The answer is the first line of the continuation, cleaned by `clean_answer`.

Model-free answerers never import torch or transformers.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from glyph_dist.models.catalog import CATALOG
from glyph_dist.models.registry import build, canonical
from glyph_dist.registry import Registry

PROMPT = "Context:\n{context}\n\nQuestion: {question}\nAnswer:"
CHAT_PROMPT = ("Answer the question from the context. Reply with the answer only, in a few words.\n\n"
               "Context:\n{context}\n\nQuestion: {question}")
_LABEL = re.compile(r"^\s*(?:the\s+)?answer\s*(?:is\s*:?|:)\s*", re.IGNORECASE)


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


def clean_answer(text: str) -> str:
    """The first line of a generated answer without an "Answer:" label, surrounding quotes or a final full stop."""
    line = _LABEL.sub("", text.strip().split("\n", 1)[0])
    return line.strip().removesuffix(".").strip().strip("\"'`").strip()


class HFAnswerer(Answerer):
    """A local causal LM: greedy, batched with left padding, the answer cut at the first newline and cleaned.

    `chat` (default: whether the tokenizer has a chat template) picks `CHAT_PROMPT` in the chat
    template over the plain `PROMPT`. `load` builds the model object from its directory (default: a
    `LocalLM` on `device`; a run's trials pass the shared model actor's client instead).
    """

    def __init__(self, path: str, max_new_tokens: int = 32, batch_size: int = 8, device: str | None = None,
                 chat: bool | None = None, load: Callable | None = None):
        if load is None:
            from glyph_dist.models.hf import LocalLM  # torch and transformers load only with a model

            self.lm = LocalLM(path, device)
        else:
            self.lm = load(path)
        self.name = f"hf:{self.lm.name}"
        self.chat = self.lm.has_chat_template if chat is None else chat
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    def prompts(self, requests: list[QARequest]) -> list[str]:
        """The prompt texts (each a user message of the chat template when `chat`)."""
        template = CHAT_PROMPT if self.chat else PROMPT
        return [template.format(context=r.context, question=r.question) for r in requests]

    def surprise(self, texts: list[str]) -> list[float]:
        return self.lm.mean_nll(texts, self.batch_size)

    def answer(self, requests: list[QARequest]) -> list[str]:
        generated = self.lm.generate(self.prompts(requests), self.max_new_tokens, self.batch_size, chat=self.chat)
        return list(map(clean_answer, generated))


ANSWERERS = Registry("answerer", {"context-recall": ContextRecall})
PREFIXED = Registry("answerer prefix", {"hf": HFAnswerer})


def _prefixed(spec: str) -> str:
    """A bare catalog name or model directory as `hf:MODEL`."""
    if spec not in ANSWERERS and (spec in CATALOG or Path(spec).expanduser().is_dir()):
        return f"hf:{spec}"
    return spec


def answerer_spec(spec: str) -> str:
    """The canonical spec: `context-recall`, or `hf:` and the absolute model directory (checked)."""
    return canonical("answerer", _prefixed(spec), ANSWERERS, PREFIXED)


def get_answerer(spec: str, **options) -> Answerer:
    """`context-recall`, `hf:MODEL`, or a bare MODEL (a catalog name or a local model directory)."""
    return build("answerer", _prefixed(spec), ANSWERERS, PREFIXED, **options)
