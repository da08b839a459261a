"""What the suites, the memory modules and the evaluation trial share.

A suite item is a **teach** part (statements written to memory, in order) and a **test** question
whose answer needs that memory. A memory module is a plain-Python class: `write(statement)` for
each teach statement, then `read(question, token_budget)` returns the context text that enters the
answerer's prompt, counted by the answerer's token counter and never over the budget. Modules get
their services (embedder, token counter, optional model surprise) injected, so the same class runs
in a test, a script or a Ray actor.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict


PROFILES = ("easy", "hard", "heldout")  # heldout: hard's world and difficulty, said in held-out surface forms
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}  # a move's reverse, in every maze


@dataclass(frozen=True)
class Statement:
    """One teach statement, as written to memory."""

    text: str
    step: int  # position in the teach stream of the whole suite realisation, from 0
    reward: float = 0.0  # outcome signal, e.g. 1.0 for a trip that reached its goal
    pinned: bool = False  # the user asked for it to be kept


@dataclass(frozen=True)
class Item:
    """One test item: teach statements, then a question whose answer needs them."""

    item_id: str
    suite: str  # one of SUITES
    kind: str  # question type within the suite, e.g. "where", "multi_hop", "route"
    teach: tuple[Statement, ...]
    question: str
    answer: str
    evidence: tuple[str, ...]  # teach texts that hold the answer, verbatim
    meta: dict = field(default_factory=dict)  # suite-specific facts the scorer needs


@dataclass(frozen=True)
class Services:
    """What a module may use besides its own state."""

    embed: Callable[[Sequence[str]], np.ndarray]  # L2-normalised float32 rows, one per text
    count: Callable[[str], int]  # tokens of a text under the answerer's token counter
    surprise: Callable[[Sequence[str]], np.ndarray] | None = None  # mean token NLL per text, from a model
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))


class ModuleConfig(BaseModel):
    """Base of the modules' configs: unknown keys are errors that name the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryModule(ABC):
    """A memory of the evaluation matrix."""

    name: str
    uses_model_surprise: ClassVar[bool] = False  # its write gate takes `services.surprise` when a model gives one
    reads_window: ClassVar[bool] = False  # it is read with the model's window as its budget (long context)

    @abstractmethod
    def write(self, statement: Statement) -> None:
        """Offer one teach statement; the module decides what it keeps."""

    @abstractmethod
    def read(self, question: str, token_budget: int) -> str:
        """The context for the question: at most `token_budget` tokens under `services.count`."""

    def counters(self) -> dict[str, float | str]:
        """Gate and store counters for the trial's metrics (written, rejected, pruned, ...)."""
        return {}

    def handles(self, question: str) -> bool:
        """Whether the question is of the kind this module specialises in (ALL routes by it)."""
        return False


def pack_lines(lines: Sequence[str], token_budget: int, count: Callable[[str], int],
               priority: Sequence[int] | None = None) -> str:
    """Lines joined by newlines within the budget: taken greedily in `priority` order (default: as
    given), emitted in their given order. A line is tried when its own count fits what is left, and
    kept when the whole joined text, counted exactly, still fits: a tokenizer's merges across lines
    cannot push the result over the budget."""
    kept: list[int] = []
    used = 0
    for i in priority if priority is not None else range(len(lines)):
        if used >= token_budget:
            break
        if used + count(lines[i]) + bool(kept) > token_budget:
            continue
        tokens = count("\n".join(lines[j] for j in sorted([*kept, i])))
        if tokens <= token_budget:
            kept.append(i)
            used = tokens
    return "\n".join(lines[j] for j in sorted(kept))
