"""Today's context strategies and memory modules behind the one provider interface.

- `StrategyProvider`: a context strategy (`context/strategies.py`) over the turns taught since the
  last reset, seen as one episode; `fgt_context` writes them to FGMS and reads for the question.
- `MemoryProvider`: a memory module (`memory/`), each turn written as a teach statement (its step,
  reward and pinned flag kept), its context read for the question under the budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from glyph_dist.context.episodes import Episode, Question
from glyph_dist.context.strategies import Context, FgtContext, Strategy
from glyph_dist.memory.base import MemoryModule, ModuleConfig, Services, Statement
from glyph_dist.providers.base import Capabilities, ContextProvider, Setup, Turn


class StrategyProvider(ContextProvider):
    def __init__(self, setup: Setup, strategy: Strategy):
        super().__init__(setup)
        self.strategy, self.name = strategy, strategy.name
        self.capabilities = self.capabilities_of(type(strategy))
        self._episode: Episode | None = None

    @staticmethod
    def capabilities_of(strategy: type[Strategy]) -> Capabilities:
        return Capabilities(uses_budget=strategy.uses_budget, needs_fgms=strategy is FgtContext)

    def reset(self, episode_id: str = "") -> None:
        super().reset(episode_id)
        self._episode = None

    def write(self, turns: Sequence[Turn]) -> None:
        super().write(turns)
        self._episode = self.episode()
        self.strategy.write(self._episode)

    def context(self, question: Question, budget: int) -> Context:
        if self._episode is None:
            self._episode = self.episode()
        return self.strategy.context(self._episode, question, budget)


class MemoryProvider(ContextProvider):
    def __init__(self, setup: Setup, module: type[MemoryModule], config: ModuleConfig):
        super().__init__(setup)
        self.module, self.config, self.name = module, config, module.name
        self.capabilities = self.capabilities_of(module)
        self.embedded: dict[str, np.ndarray] = {}  # text -> embedding, kept across resets
        self.pending: list[str] = []  # texts of the turns being written, embedded in one batch when first needed
        self.services = Services(embed=self.embed, count=setup.count,
                                 surprise=setup.surprise if module.uses_model_surprise else None, log=setup.log)
        self.memory: MemoryModule = module(self.services, config)
        self.earlier: list[dict[str, float | str]] = []  # counters of the memories of earlier episodes

    @staticmethod
    def capabilities_of(module: type[MemoryModule]) -> Capabilities:
        return Capabilities(reads_window=module.reads_window, needs_surprise=module.uses_model_surprise)

    def reset(self, episode_id: str = "") -> None:
        if self.turns:
            self.earlier.append(self.memory.counters())
        super().reset(episode_id)
        self.memory = self.module(self.services, self.config)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The tape embedder's rows, each distinct text embedded once: the first text to embed brings
        the taught turns not yet embedded into its batch (a memory that never embeds costs nothing)."""
        if not len(texts):
            return self.setup.hybrid.tape.embedder.encode([])
        missing = [text for text in dict.fromkeys(texts) if text not in self.embedded]
        if missing:
            batch = list(dict.fromkeys([*missing, *(t for t in self.pending if t not in self.embedded)]))
            self.embedded.update(zip(batch, self.setup.hybrid.tape.embedder.encode(batch)))
            self.pending = []
        return np.stack([self.embedded[text] for text in texts])

    def write(self, turns: Sequence[Turn]) -> None:
        super().write(turns)
        self.pending = [turn.text for turn in turns]
        for turn in turns:
            self.memory.write(Statement(turn.text, turn.step, turn.reward, turn.pinned))

    def context(self, question: Question, budget: int) -> Context:
        text = self.memory.read(question.question, budget)
        return Context(text, self.setup.count(text))

    def counters(self) -> dict[str, float | str]:
        """The memory's counters, numbers summed over the episodes' memories (a text: the last one's)."""
        total: dict[str, float | str] = {}
        for counters in [*self.earlier, self.memory.counters()]:
            for key, value in counters.items():
                numeric = isinstance(value, (int, float)) and isinstance(total.get(key, 0), (int, float))
                total[key] = total.get(key, 0) + value if numeric else value
        return total
