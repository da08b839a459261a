"""Context strategies: each builds, for one question about an episode, the context a reader gets,
under the same token budget counted by the same tokenizer (the hybrid tokenizer, so glyph codes
cost what they cost a model that knows them).

Turns are rendered as FGMS renders its spans (`[t3 user] text`), so every strategy shows history
in the same form. Each strategy is a small class behind one registry:

- `raw_truncate`: the last `budget` tokens of the history (cut at a token, mid-turn if need be);
- `fgt_context`: the episode is written to FGMS, the context is an FGMS read for the question
  (its policy, mode, relevance and unit are the strategy's options);
- `rag_topk`: turns ranked by embedding similarity to the question (the tape's embedder), plain text;
- `bm25_topk`: turns ranked by BM25 over words, plain text;
- `full`: the whole history, no budget (the ceiling).

The retrieval strategies take turns in rank order while they fit (k follows from the budget) and
return them in chronological order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from rank_bm25 import BM25Okapi

from glyph_dist.context.episodes import Episode, Question, turn_line
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.schema import DEFAULT_READ, MAX_BATCH, MemoryRecord, ReadRequest, ReadResponse, WriteResponse
from glyph_dist.fgt.hybrid import HybridTokenizer
from glyph_dist.metrics import words
from glyph_dist.registry import Registry


@dataclass(frozen=True)
class Context:
    text: str
    tokens: int
    glyph_turns: frozenset[int] = frozenset()  # turns with at least one span given as a glyph code


class Memory(Protocol):
    """What `fgt_context` needs of FGMS: the in-process core or the shard actors (see bench.py)."""

    def write(self, records: list[MemoryRecord]) -> WriteResponse: ...

    def read(self, request: ReadRequest) -> ReadResponse: ...


class Strategy(ABC):
    name: ClassVar[str]
    uses_budget: ClassVar[bool] = True

    def __init__(self, hybrid: HybridTokenizer):
        self.hybrid = hybrid
        self._lines: dict[str, tuple[list[str], list[int]]] = {}

    def count(self, text: str) -> int:
        return len(self.hybrid.token_ids([text])[0]) if text else 0

    def lines(self, episode: Episode) -> tuple[list[str], list[int]]:
        """The episode's turn lines and their token counts, computed once per episode."""
        if episode.digest not in self._lines:
            lines = [turn_line(i, role, text) for i, (role, text) in enumerate(episode.turns)]
            self._lines[episode.digest] = (lines, [len(ids) for ids in self.hybrid.token_ids(lines)])
        return self._lines[episode.digest]

    def write(self, episode: Episode) -> None:
        """Take in the episode's turns before its questions (a memory stores them; most strategies
        read the episode itself when asked)."""

    @abstractmethod
    def context(self, episode: Episode, question: Question, budget: int) -> Context:
        """The context for one question, at most `budget` tokens (unless `uses_budget` is False)."""


class Full(Strategy):
    name = "full"
    uses_budget = False

    def context(self, episode, question, budget):
        text = "\n".join(self.lines(episode)[0])
        return Context(text, self.count(text))


class RawTruncate(Strategy):
    name = "raw_truncate"

    def context(self, episode, question, budget):
        text = "\n".join(self.lines(episode)[0])
        ids = self.hybrid.token_ids([text])[0]
        keep = min(budget, len(ids))
        while keep > 0:
            tail = text if keep == len(ids) else self.hybrid.base.decode(ids[-keep:])
            tokens = self.count(tail)
            if tokens <= budget:  # a cut inside a character or word can re-tokenise longer
                return Context(tail, tokens)
            keep -= tokens - budget
        return Context("", 0)


class RankedTurns(Strategy):
    """Turns taken in rank order while they fit, returned in chronological order."""

    @abstractmethod
    def scores(self, episode: Episode, question: Question) -> np.ndarray:
        """One score per turn, higher is better."""

    def context(self, episode, question, budget):
        lines, costs = self.lines(episode)
        scores = self.scores(episode, question)
        order = np.lexsort((-np.arange(len(lines)), -scores))  # ties: the later turn first
        return pack(lines, costs, order.tolist(), budget, self.count, len(self.hybrid.token_ids(["\n"])[0]))


def pack(lines: Sequence[str], costs: Sequence[int], priority: Sequence[int], budget: int,
         count: Callable[[str], int], newline: int) -> Context:
    """Greedy packing of lines in priority order; the joined context is counted exactly and the
    lowest-priority line dropped while a tokenizer's merges across lines push it over budget."""
    chosen, used = [], 0
    for i in priority:
        cost = costs[i] + (newline if chosen else 0)
        if used + cost <= budget:
            chosen.append(i)
            used += cost
    while chosen:
        text = "\n".join(lines[i] for i in sorted(chosen))
        tokens = count(text)
        if tokens <= budget:
            return Context(text, tokens)
        chosen.pop()
    return Context("", 0)


class RagTopK(RankedTurns):
    name = "rag_topk"

    def __init__(self, hybrid):
        super().__init__(hybrid)
        self._vectors: dict[str, np.ndarray] = {}

    def scores(self, episode, question):
        if episode.digest not in self._vectors:
            self._vectors[episode.digest] = self.hybrid.tape.embedder.encode([text for _, text in episode.turns])
        return self._vectors[episode.digest] @ self.hybrid.tape.embedder.encode([question.question])[0]


class BM25TopK(RankedTurns):
    name = "bm25_topk"

    def __init__(self, hybrid):
        super().__init__(hybrid)
        self._index: dict[str, BM25Okapi] = {}

    def scores(self, episode, question):
        if episode.digest not in self._index:
            self._index[episode.digest] = BM25Okapi([words(text) or [""] for _, text in episode.turns])
        return np.asarray(self._index[episode.digest].get_scores(words(question.question)))


class FgtContext(Strategy):
    name = "fgt_context"

    def __init__(self, hybrid, memory: Memory, **read_settings):
        """`read_settings`: FGMS read settings (`fgms.schema.READ_SETTINGS`); the service's defaults otherwise."""
        super().__init__(hybrid)
        unknown = set(read_settings) - set(DEFAULT_READ)
        if unknown:
            raise GlyphDistError(f"fgt_context: unknown FGMS read setting {', '.join(sorted(unknown))}; "
                                 f"known: {', '.join(DEFAULT_READ)}")
        self.memory, self.read_settings = memory, {**DEFAULT_READ, **read_settings}
        self._written: set[str] = set()

    @staticmethod
    def actor_id(episode: Episode) -> str:
        return f"{episode.episode_id}@{episode.digest}"

    def write(self, episode: Episode) -> None:
        """Write the episode's turns as memories (idempotent: trials sharing shards write once)."""
        actor = self.actor_id(episode)
        records = [MemoryRecord(actor_id=actor, record_id=f"t{i}", episode_id=episode.episode_id, turn=i,
                                role=role, text=text)
                   for i, (role, text) in enumerate(episode.turns) if text.strip()]
        for start in range(0, len(records), MAX_BATCH):
            self.memory.write(records[start:start + MAX_BATCH])
        self._written.add(episode.digest)

    def context(self, episode, question, budget):
        if episode.digest not in self._written:
            self.write(episode)
        response = self.memory.read(ReadRequest(actor_id=self.actor_id(episode), query=question.question,
                                                token_budget=budget, **self.read_settings))
        glyphs = frozenset(i.turn for i in response.items if i.rendered_as == "glyph" and i.turn is not None)
        return Context(response.context, response.token_estimate, glyphs)


STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy", {s.name: s for s in (RawTruncate, FgtContext, RagTopK, BM25TopK, Full)})


def check_strategies(names: Sequence[str]) -> None:
    STRATEGIES.check(names)


def make_strategy(name: str, hybrid: HybridTokenizer, memory: Memory | None = None, **fgms_options) -> Strategy:
    strategy = STRATEGIES.get(name)
    if strategy is FgtContext:
        if memory is None:
            raise GlyphDistError("fgt_context needs an FGMS memory")
        return FgtContext(hybrid, memory, **fgms_options)
    return strategy(hybrid)
