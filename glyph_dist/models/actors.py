"""Ray shells of the model layer.

- `ModelActor` holds one local causal LM, loaded once; `SharedLM` is its client, with the served
  methods of `LocalLM`. Every answerer and judge of a run that reads the same model directory goes
  through one named `ModelActor`: `answerer=smollm2` and `judge=llm:smollm2` share one copy of the
  weights (and one GPU with `model_gpus=1`). `serve_models` starts them on the driver before the
  trials; `shared_answerer` and `shared_judge` build a trial's answerer and judge around them.
- `AnswererActor` and `JudgeActor` build one answerer or judge per actor and serve its batches.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

import ray

from glyph_dist.errors import GlyphDistError
from glyph_dist.models.answerers import ANSWERERS, Answerer, QARequest, get_answerer
from glyph_dist.models.judges import JUDGES, Judge, PairRequest, Preference, get_judge

NAMESPACE = "glyph_dist"
SERVED = ("encode", "generate", "next_token_logprobs", "mean_nll")  # LocalLM's methods a ModelActor runs


@ray.remote
class ModelActor:
    def __init__(self, path: str):
        from glyph_dist.models.hf import LocalLM

        self.lm = LocalLM(path)

    def describe(self) -> dict:
        return {"name": self.lm.name, "has_chat_template": self.lm.has_chat_template}

    def call(self, method: str, *args, **kwargs):
        if method not in SERVED:
            raise GlyphDistError(f"a model actor serves {', '.join(SERVED)}, not {method!r}")
        return getattr(self.lm, method)(*args, **kwargs)


def model_actor_name(path: str) -> str:
    """One model actor per model directory and Ray job: runs sharing a cluster keep their own (each ends its own)."""
    job = ray.get_runtime_context().get_job_id()
    return f"model-{job}-" + hashlib.blake2b(path.encode(), digest_size=6).hexdigest()


class SharedLM:
    """The named `ModelActor` of a model directory (started on first use, waited for until loaded), in the
    shape of `LocalLM`: `name`, `has_chat_template` and the `SERVED` methods."""

    def __init__(self, path: str, num_gpus: float = 0):
        self.path = path
        self.actor = ModelActor.options(name=model_actor_name(path), namespace=NAMESPACE, get_if_exists=True,
                                        num_gpus=num_gpus, num_cpus=0).remote(path)
        try:
            described = ray.get(self.actor.describe.remote())
        except ray.exceptions.RayActorError as error:
            raise GlyphDistError(f"the model actor of {path} did not start: {error}") from error
        self.name, self.has_chat_template = described["name"], described["has_chat_template"]

    def __getattr__(self, method: str):
        if method not in SERVED:
            raise AttributeError(method)
        return lambda *args, **kwargs: ray.get(self.actor.call.remote(method, *args, **kwargs))


def shared_answerer(spec: str, num_gpus: float = 0) -> Answerer:
    """The answerer of `spec`; a model answerer reads through the shared actor of its model."""
    if spec in ANSWERERS:
        return get_answerer(spec)
    return get_answerer(spec, load=functools.partial(SharedLM, num_gpus=num_gpus))


def shared_judge(spec: str, num_gpus: float = 0) -> Judge:
    """The judge of `spec`; a model judge reads through the shared actor of its model."""
    if spec in JUDGES:
        return get_judge(spec)
    return get_judge(spec, load=functools.partial(SharedLM, num_gpus=num_gpus))


def serve_models(answerers: Iterable[str], judges: Iterable[str], num_gpus: float = 0) -> list[ray.actor.ActorHandle]:
    """Driver side: every answerer and judge built once, so that a bad spec or model fails before any trial
    starts; returns the model actors they started (one per model directory), to end with the run."""
    built = [*(shared_answerer(spec, num_gpus) for spec in sorted(set(answerers))),
             *(shared_judge(spec, num_gpus) for spec in sorted(set(judges)))]
    actors: dict[str, ray.actor.ActorHandle] = {}
    for item in built:  # the first handle of each model is the one that started it: it keeps the actor alive
        if isinstance(getattr(item, "lm", None), SharedLM):
            actors.setdefault(item.lm.path, item.lm.actor)
    return list(actors.values())


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

    def score(self, predictions: list[str], golds: list[str], questions: list[str]) -> list[dict[str, float]]:
        return self.judge.score(predictions, golds, questions)

    def compare(self, pairs: list[PairRequest]) -> list[Preference]:
        return self.judge.compare(pairs)


def answerer_actor(spec: str, num_gpus: float = 0, num_cpus: float = 1, **options) -> ray.actor.ActorHandle:
    """An `AnswererActor` for `spec`; give it `num_gpus=1` to run an HF answerer on a GPU."""
    return AnswererActor.options(num_gpus=num_gpus, num_cpus=num_cpus).remote(spec, options)


def judge_actor(spec: str = "rule", num_gpus: float = 0, num_cpus: float = 1, **options) -> ray.actor.ActorHandle:
    """A `JudgeActor` for `spec`: `score` gives the rule metrics (and an LLM judge's verdicts), `compare` the
    pairwise preferences of an LLM judge."""
    return JudgeActor.options(num_gpus=num_gpus, num_cpus=num_cpus).remote(spec, options)
