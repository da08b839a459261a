"""Batched greedy generation on a pool of Ray actors, one local causal LM per actor (a GPU each when lent)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.util import ActorPool

from glyph_dist.errors import GlyphDistError


@ray.remote
class Generator:
    """One `LocalLM`, loaded once; answers chunks of prompts."""

    def __init__(self, path: str):
        from glyph_dist.models.hf import LocalLM

        self.lm = LocalLM(path)

    def generate(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> tuple[list[str], list[int]]:
        """Each prompt's greedy continuation (a user message in the chat template when the model has one)
        and its length in tokens (the stripped text re-encoded)."""
        texts = self.lm.generate(prompts, max_new_tokens, batch_size, first_line=False, chat=self.lm.has_chat_template)
        return texts, [len(ids) for ids in self.lm.encode(texts, special_tokens=False)]


@dataclass
class Generated:
    texts: list[str]
    tokens: list[int]  # of each text
    seconds: float  # wall time of the generation, model loading excluded

    @property
    def tokens_per_s(self) -> float:
        return sum(self.tokens) / self.seconds if self.seconds else 0.0


def generate(model: Path, prompts: list[str], max_new_tokens: int, batch_size: int = 8, actors: int = 1,
             cpus_per_actor: float = 1, gpus_per_actor: float = 0) -> Generated:
    """Greedy continuations of `prompts` from `actors` copies of the model; chunks of `batch_size` x 4
    prompts are dealt to whichever actor is free, the results kept in the prompts' order."""
    if actors < 1:
        raise GlyphDistError(f"actors must be at least 1, got {actors}")
    if not ray.is_initialized():
        ray.init(log_to_driver=False)
    pool = [Generator.options(num_cpus=cpus_per_actor, num_gpus=gpus_per_actor,
                              scheduling_strategy="DEFAULT")  # never inside a Tune trial's placement group
            .remote(str(model)) for _ in range(actors)]
    try:
        try:
            ray.get([actor.__ray_ready__.remote() for actor in pool])
        except ray.exceptions.RayActorError as error:
            raise GlyphDistError(f"the generator actors of {model} did not start: {error}") from error
        chunk = batch_size * 4
        chunks = [prompts[i:i + chunk] for i in range(0, len(prompts), chunk)]
        start = time.perf_counter()
        results = list(ActorPool(pool).map(lambda a, c: a.generate.remote(c, max_new_tokens, batch_size), chunks))
        seconds = time.perf_counter() - start
    finally:
        for actor in pool:
            ray.kill(actor)
    return Generated([t for texts, _ in results for t in texts], [n for _, ns in results for n in ns], seconds)
