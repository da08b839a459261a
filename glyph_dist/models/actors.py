"""Ray shells: an answerer or judge built once per actor, serving batches of requests."""

from __future__ import annotations

import hashlib

import ray

from glyph_dist.models.answerers import Answerer, QARequest, get_answerer
from glyph_dist.models.judges import PairRequest, Preference, get_judge


@ray.remote
class AnswererActor:
    def __init__(self, spec: str, options: dict):
        self.answerer = get_answerer(spec, **options)

    def name(self) -> str:
        return self.answerer.name

    def answer(self, requests: list[QARequest]) -> list[str]:
        return self.answerer.answer(requests)

    def surprise(self, texts: list[str]) -> list[float] | None:
        return self.answerer.surprise(texts)


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


NAMESPACE = "glyph_dist"


def _shared_answerer_name(spec: str) -> str:
    return "answerer-" + hashlib.blake2b(spec.encode(), digest_size=6).hexdigest()


def start_shared_answerer(spec: str, num_gpus: float = 0) -> ray.actor.ActorHandle:
    """A named `AnswererActor` that every trial of a run reaches by its spec; waits until it is loaded."""
    actor = AnswererActor.options(name=_shared_answerer_name(spec), namespace=NAMESPACE, get_if_exists=True,
                                  num_gpus=num_gpus, num_cpus=0).remote(spec, {})
    ray.get(actor.name.remote())
    return actor


class SharedAnswerer(Answerer):
    """The shared answerer actor of `spec`, seen from a trial as a plain answerer."""

    def __init__(self, spec: str):
        self.actor = ray.get_actor(_shared_answerer_name(spec), namespace=NAMESPACE)
        self.name = ray.get(self.actor.name.remote())

    def answer(self, requests: list[QARequest]) -> list[str]:
        return ray.get(self.actor.answer.remote(requests))

    def surprise(self, texts: list[str]) -> list[float] | None:
        return ray.get(self.actor.surprise.remote(texts))
