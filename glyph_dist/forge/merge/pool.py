"""Candidates evaluated in parallel on Ray: an actor pool, each actor holding the evaluation data.

Each actor reads and splits the held-out data once, then evaluates one model directory at a time
(evaluate.evaluate_model) with one torch thread; `EvalPool(...)(directories, split)` returns the
metrics in the order of the directories. A GlyphDistError inside an actor is raised as itself.
"""

from __future__ import annotations

from pathlib import Path

import ray
from ray.util import ActorPool

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.merge.evaluate import EvalSettings, eval_splits, evaluate_model


@ray.remote(num_cpus=1)
class EvalWorker:
    def __init__(self, settings: EvalSettings):
        import torch
        torch.set_num_threads(1)
        self.settings = settings
        self.splits = eval_splits(settings)

    def evaluate(self, directory: str, split: str) -> dict:
        return evaluate_model(Path(directory), self.splits[split], self.settings)


class EvalPool:
    def __init__(self, settings: EvalSettings, workers: int, use_gpu: bool = False):
        options = {"num_gpus": 1 / workers} if use_gpu else {}
        self.actors = [EvalWorker.options(**options).remote(settings) for _ in range(workers)]
        self.pool = ActorPool(self.actors)

    def __call__(self, directories: list[Path], split: str = "fitness") -> list[dict]:
        try:
            return list(self.pool.map(lambda actor, d: actor.evaluate.remote(str(d), split), directories))
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, GlyphDistError):
                raise exc.cause from None
            raise

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
