"""The one interface of whatever builds a reader's context: a context provider.

A provider is taught turns (`write`) and gives the context for a question under a token budget
(`context`), counted by the one token counter of its `Setup` (the hybrid tokenizer of the tape, so
glyph codes cost what they cost a model that knows them). `reset` gives it a fresh memory: the
evaluation loop resets it before each episode. What a provider needs beyond that is declared in its
`capabilities`, never special-cased by name.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from glyph_dist.context.episodes import Episode, Question, episode_digest
from glyph_dist.context.strategies import Context, Memory
from glyph_dist.fgms.schema import DEFAULT_READ
from glyph_dist.fgt.hybrid import HybridTokenizer


@dataclass(frozen=True)
class Capabilities:
    uses_budget: bool = True  # its contexts are held to the budget (the `full` ceiling is not)
    reads_window: bool = False  # it reads the model's window instead of the budget (longctx)
    needs_surprise: bool = False  # its write gate takes the answering model's surprise when there is one
    needs_fgms: bool = False  # it reads through FGMS (`Setup.fgms`)


@dataclass(frozen=True)
class Turn:
    """One taught turn: its index in the episode, role and text, and a memory's write signals."""

    index: int
    role: str
    text: str
    step: int
    reward: float = 0.0
    pinned: bool = False


def turns_of(episode: Episode) -> list[Turn]:
    """The episode's turns; a turn's step is its index unless the episode gives one."""
    meta = episode.turn_meta or ({},) * len(episode.turns)
    return [Turn(i, role, text, int(m.get("step", i)), float(m.get("reward", 0.0)), bool(m.get("pinned", False)))
            for i, ((role, text), m) in enumerate(zip(episode.turns, meta))]


@dataclass
class Setup:
    """What providers are built with: the token counter and embedder (the hybrid tokenizer and its
    tape), FGMS for those that read through it, and the answering model's surprise when there is one."""

    hybrid: HybridTokenizer
    fgms: Memory | None = None
    fgms_read: dict = field(default_factory=lambda: dict(DEFAULT_READ))  # policy, mode, relevance, unit
    surprise: Callable[[Sequence[str]], np.ndarray] | None = None
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))

    def count(self, text: str) -> int:
        return len(self.hybrid.token_ids([text])[0]) if text else 0


class ContextProvider(ABC):
    """Teach turns, then read a context per question under a budget."""

    name: str
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, setup: Setup):
        self.setup = setup
        self.episode_id = ""
        self.turns: list[Turn] = []

    def reset(self, episode_id: str = "") -> None:
        """A fresh memory, for the episode `episode_id`."""
        self.episode_id, self.turns = episode_id, []

    def write(self, turns: Sequence[Turn]) -> None:
        """Teach turns, in order."""
        self.turns += turns

    @abstractmethod
    def context(self, question: Question, budget: int) -> Context:
        """The context for the question: at most `budget` tokens when `capabilities.uses_budget`."""

    def counters(self) -> dict[str, float | str]:
        """What the provider kept and dropped (a memory module's write-gate and store counters)."""
        return {}

    def episode(self) -> Episode:
        """The turns taught since the last reset, as an episode."""
        pairs = tuple((t.role, t.text) for t in self.turns)
        return Episode(self.episode_id, pairs, (), episode_digest(pairs))
