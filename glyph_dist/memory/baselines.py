"""The baselines every memory module is compared with.

- `core`: no memory; the answerer sees the question alone.
- `rag`: embedding retrieval over the teach statements (cosine to the question, the best first,
  distinct texts, packed under the budget, shown in the order they were taught).
- `longctx`: all teach text, truncated to the model's window by keeping the most recent statements
  (the evaluation reads it with the window as its budget).
"""

from __future__ import annotations

import numpy as np

from glyph_dist.memory.base import MemoryModule, ModuleConfig, Services, Statement, pack_lines


class CoreConfig(ModuleConfig):
    pass


class Core(MemoryModule):
    """No memory at all."""

    name = "core"

    def __init__(self, services: Services, config: CoreConfig | None = None):
        self.offered = 0

    def write(self, statement: Statement) -> None:
        self.offered += 1

    def read(self, question: str, token_budget: int) -> str:
        return ""

    def counters(self) -> dict[str, float | str]:
        return {"offered": self.offered, "stored": 0}


class RagConfig(ModuleConfig):
    candidates: int = 64  # the most similar distinct statements offered to the packer


class Rag(MemoryModule):
    """Top-k embedding retrieval over the distinct teach statements."""

    name = "rag"

    def __init__(self, services: Services, config: RagConfig | None = None):
        self.services, self.config = services, config or RagConfig()
        self.texts: list[str] = []
        self.seen: set[str] = set()
        self.pending: list[str] = []
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self.offered = 0

    def write(self, statement: Statement) -> None:
        self.offered += 1
        if statement.text not in self.seen:
            self.seen.add(statement.text)
            self.texts.append(statement.text)
            self.pending.append(statement.text)

    def _index(self) -> np.ndarray:
        if self.pending:
            new = self.services.embed(self.pending)
            self.vectors = new if not len(self.vectors) else np.vstack([self.vectors, new])
            self.pending = []
        return self.vectors

    def read(self, question: str, token_budget: int) -> str:
        vectors = self._index()
        if not len(vectors):
            return ""
        scores = vectors @ self.services.embed([question])[0]
        k = min(self.config.candidates, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((-best, -scores[best]))]  # ties: the later statement first
        return pack_lines(self.texts, token_budget, self.services.count, best.tolist())

    def counters(self) -> dict[str, float | str]:
        return {"offered": self.offered, "stored": len(self.texts)}


class LongCtxConfig(ModuleConfig):
    pass


class LongCtx(MemoryModule):
    """Everything taught, the most recent statements that fit the model's window."""

    name = "longctx"
    reads_window = True

    def __init__(self, services: Services, config: LongCtxConfig | None = None):
        self.services, self.config = services, config or LongCtxConfig()
        self.texts: list[str] = []
        self.cached: tuple[tuple[int, int], str] | None = None

    def write(self, statement: Statement) -> None:
        self.texts.append(statement.text)

    def read(self, question: str, token_budget: int) -> str:
        """The same text for every question: computed once per stream length and budget."""
        if self.cached is None or self.cached[0] != (len(self.texts), token_budget):
            self.cached = ((len(self.texts), token_budget), self._recent_window(token_budget))
        return self.cached[1]

    def _recent_window(self, window: int) -> str:
        """The longest suffix of the teach stream within the window (the oldest line dropped while
        the joined text, counted whole, is over it)."""
        count = self.services.count
        recent, used = [], 0
        for text in reversed(self.texts):
            used += count(text) + bool(recent)
            if used > window:
                break
            recent.append(text)
        while recent and count("\n".join(reversed(recent))) > window:
            recent.pop()
        return "\n".join(reversed(recent))

    def counters(self) -> dict[str, float | str]:
        return {"offered": len(self.texts), "stored": len(self.texts)}
