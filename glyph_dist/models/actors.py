"""Ray shells: an answerer or judge built once per actor, serving batches of requests."""

from __future__ import annotations

import ray

from glyph_dist.models.answerers import QARequest, get_answerer
from glyph_dist.models.judges import PairRequest, Preference, get_judge


@ray.remote
class AnswererActor:
    def __init__(self, spec: str, options: dict):
        self.answerer = get_answerer(spec, **options)

    def name(self) -> str:
        return self.answerer.name

    def answer(self, requests: list[QARequest]) -> list[str]:
        return self.answerer.answer(requests)


@ray.remote
class JudgeActor:
    def __init__(self, spec: str, options: dict):
        self.judge = get_judge(spec, **options)

    def name(self) -> str:
        return self.judge.name

    def score(self, predictions: list[str], golds: list[str]) -> list[dict[str, float]]:
        return self.judge.score(predictions, golds)

    def compare(self, pairs: list[PairRequest]) -> list[Preference]:
        return self.judge.compare(pairs)


def answerer_actor(spec: str, num_gpus: float = 0, num_cpus: float = 1, **options) -> ray.actor.ActorHandle:
    """An `AnswererActor` for `spec`; give it `num_gpus=1` to run an HF answerer on a GPU."""
    return AnswererActor.options(num_gpus=num_gpus, num_cpus=num_cpus).remote(spec, options)


def judge_actor(spec: str = "rule", num_gpus: float = 0, num_cpus: float = 1, **options) -> ray.actor.ActorHandle:
    """A `JudgeActor` for `spec`: `score` serves the rule judge, `compare` the pairwise LLM judge."""
    return JudgeActor.options(num_gpus=num_gpus, num_cpus=num_cpus).remote(spec, options)
