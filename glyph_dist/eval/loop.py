"""The one evaluation loop: teach, read, answer, judge, score; any provider on any episodes.

For each episode the provider gets a fresh memory and is taught the episode's turns; then for each
question it gives a context under the budget (timed), which is exactly the context of the
answerer's prompt; the judge scores the answers (`success`: containment of the gold answer; EM and
F1; an LLM judge adds its verdicts and their agreement with the rule). Besides the judged scores,
each context is measured model-free, whatever the answerer: whether every evidence text (every
sentence of the evidence turns, or a suite item's evidence statements) is in it verbatim
(`evidence_recall`), the share of them that is (`evidence_share`), whether it is once glyph codes are
expanded (`evidence_recall_expanded`), whether the gold answer is (`answer_recall`), and whether
evidence missing verbatim is there as a glyph code (`glyph_evidence`). A memory suite's questions add
the suite's own scores (`em_raw`, the spatial scores). Results are also broken down by evidence
position and by episode length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from statistics import fmean
from typing import Protocol

import numpy as np

from glyph_dist.context.episodes import Episode, Question
from glyph_dist.context.strategies import Context
from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.episodes import SuiteQuestion
from glyph_dist.fgt.hybrid import GLYPH_OPEN, HybridTokenizer
from glyph_dist.memory_rows import SPATIAL_METRICS
from glyph_dist.metrics import contains
from glyph_dist.models.answerers import ContextRecall, QARequest
from glyph_dist.models.judges import llm_rates
from glyph_dist.providers.base import ContextProvider, turns_of

LENGTH_BUCKETS = ((0, 49), (50, 99), (100, 199), (200, None))  # turns per episode, lowest first


class Answerer(Protocol):
    name: str

    def answer(self, requests: list[QARequest]) -> list[str]: ...


class Judge(Protocol):
    name: str

    def score(self, predictions: list[str], golds: list[str], questions: list[str]) -> list[dict[str, float]]: ...


@dataclass
class Outcome:
    """One question under one provider."""

    question: Question
    episode: Episode
    context: Context
    request: QARequest  # what the answerer gets
    expanded: str  # the context with every glyph code decoded (`HybridTokenizer.expand`)
    answer: str = ""
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def evidence_present(self) -> bool:
        """Every evidence text is in the context verbatim."""
        return ContextRecall.recalled(self.request)

    @property
    def evidence_share(self) -> float:
        """The share of the evidence texts that are in the context verbatim (0 without evidence)."""
        texts = self.request.evidence_texts
        return fmean(ContextRecall.recalled(replace(self.request, evidence_texts=(t,))) for t in texts) if texts else 0.0

    @property
    def evidence_present_expanded(self) -> bool:
        """Every evidence text is in the expanded context verbatim."""
        return ContextRecall.recalled(replace(self.request, context=self.expanded))

    @property
    def glyph_only(self) -> bool:
        """Evidence missing verbatim, yet each evidence turn is in the context as a glyph code at least."""
        return not self.evidence_present and all(i in self.context.glyph_turns for i in self.question.evidence)


@dataclass
class Timing:
    write_seconds: float = 0.0
    read_seconds: float = 0.0
    answer_seconds: float = 0.0  # answering and judging
    turns: int = 0


def ask(episode: Episode, question: Question, context: Context, hybrid: HybridTokenizer) -> Outcome:
    request = QARequest(question.question, context.text, question.answer, episode.evidence_sentences(question))
    expanded = hybrid.expand(context.text) if GLYPH_OPEN in context.text else context.text
    return Outcome(question, episode, context, request, expanded)


def read_all(provider: ContextProvider, episodes: list[Episode], budget: int, timing: Timing) -> list[Outcome]:
    """Teach each episode to a fresh memory, then read a context for each of its questions."""
    outcomes = []
    for episode in episodes:
        provider.reset(episode.episode_id)
        start = time.perf_counter()
        provider.write(turns_of(episode))
        timing.write_seconds += time.perf_counter() - start
        timing.turns += len(episode.turns)
        for question in episode.questions:
            start = time.perf_counter()
            context = provider.context(question, budget)
            timing.read_seconds += time.perf_counter() - start
            outcomes.append(ask(episode, question, context, provider.setup.hybrid))
    if provider.capabilities.uses_budget:
        over = [o for o in outcomes if o.context.tokens > budget]
        if over:
            raise GlyphDistError(f"{provider.name} returned {len(over)} contexts over the budget of {budget} tokens, "
                                 f"e.g. for {over[0].question.question!r}: {over[0].context.tokens} tokens")
    return outcomes


def evaluate(provider: ContextProvider, episodes: list[Episode], budget: int, answerer: Answerer,
             judge: Judge) -> tuple[list[Outcome], Timing]:
    """Every question's context, answer and scores under the provider, and the time each phase took."""
    timing = Timing()
    outcomes = read_all(provider, episodes, budget, timing)
    start = time.perf_counter()
    answers = answerer.answer([o.request for o in outcomes])
    scored = judge.score(answers, [o.question.answer for o in outcomes], [o.question.question for o in outcomes])
    timing.answer_seconds = time.perf_counter() - start
    for outcome, answer, scores in zip(outcomes, answers, scored):
        outcome.answer, outcome.scores = answer, scores
    return outcomes, timing


def model_surprise(answerer, texts: list[str]) -> Callable[[list[str]], np.ndarray] | None:
    """The answering model's surprise at each text, scored in one batch up front; None for a
    model-free answerer (a memory then takes surprise from its embedder)."""
    texts = sorted(set(texts))
    scores = answerer.surprise(texts)
    if scores is None:
        return None
    table = dict(zip(texts, scores))
    return lambda batch: np.array([table[text] for text in batch], dtype=np.float32)


def position_bucket(position: float) -> str:
    """Fifths of the episode: "0.0-0.2", ..., "0.8-1.0"."""
    k = min(int(position * 5), 4)
    return f"{k / 5:.1f}-{(k + 1) / 5:.1f}"


def length_bucket(turns: int) -> str:
    for low, high in LENGTH_BUCKETS:
        if high is None or turns <= high:
            return f"{low}-{high}" if high is not None else f"{low}+"
    raise AssertionError("the last length bucket is open")


def _bucket_rows(outcomes: list[Outcome], bucket: Callable[[Outcome], str | None],
                 order: Callable[[str], object] = lambda label: float(label.split("-")[0].rstrip("+"))) -> list[dict]:
    """Scores per bucket (outcomes whose bucket is None are left out), buckets sorted by `order`."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        label = bucket(outcome)
        if label is not None:
            groups.setdefault(label, []).append(outcome)
    return [{"bucket": label, "n": len(group), "success_rate": fmean(o.scores["success"] for o in group),
             "evidence_recall": fmean(o.evidence_present for o in group),
             "evidence_share": fmean(o.evidence_share for o in group)}
            for label, group in sorted(groups.items(), key=lambda item: order(item[0]))]


def suite_scores(outcomes: list[Outcome]) -> dict:
    """A memory suite's own scores of the answers (none for other questions)."""
    from glyph_dist.memory.suites.scoring import aggregate, score

    items = [o.question.item for o in outcomes if isinstance(o.question, SuiteQuestion)]
    if len(items) != len(outcomes):
        return {}
    scores = aggregate([score(item, o.answer) for item, o in zip(items, outcomes)])
    if any(item.suite == "spatial" for item in items):  # null where undefined, e.g. no successful route
        scores = {key: None for key in SPATIAL_METRICS} | scores
    return scores


def summarise(outcomes: list[Outcome], timing: Timing) -> dict:
    """The provider's row: the judged scores, the suite's scores, the model-free recalls, tokens,
    telemetry and the breakdowns by evidence position, episode length and question type (where the
    data set names types)."""
    if not outcomes:
        raise GlyphDistError("no questions to score")
    n = len(outcomes)
    tokens = [o.context.tokens for o in outcomes]
    return {
        "success_rate": fmean(o.scores["success"] for o in outcomes),
        "contains": fmean(o.scores["contains"] for o in outcomes),
        "em": fmean(o.scores["em"] for o in outcomes),
        "f1": fmean(o.scores["f1"] for o in outcomes),
        **llm_rates([o.scores for o in outcomes]),
        **suite_scores(outcomes),
        "avg_tokens": fmean(tokens),
        "max_tokens": max(tokens),
        "tokens": sum(tokens),
        "evidence_recall": fmean(o.evidence_present for o in outcomes),
        "evidence_share": fmean(o.evidence_share for o in outcomes),
        "evidence_recall_expanded": fmean(o.evidence_present_expanded for o in outcomes),
        "answer_recall": fmean(contains(o.context.text, o.question.answer) for o in outcomes),
        "glyph_evidence": fmean(o.glyph_only for o in outcomes),
        "n_questions": n,
        "n_episodes": len({id(o.episode) for o in outcomes}),
        "latency_ms_mean": 1e3 * timing.read_seconds / n,
        "time_ms_per_100": 1e5 * (timing.read_seconds + timing.answer_seconds) / n,
        "write_seconds": timing.write_seconds,
        "write_rate": timing.turns / max(timing.write_seconds, 1e-9),
        "by_evidence_position": _bucket_rows(outcomes, lambda o: position_bucket(o.question.evidence_position)),
        "by_episode_length": _bucket_rows(outcomes, lambda o: length_bucket(len(o.episode.turns))),
        "by_question_type": _bucket_rows(outcomes, lambda o: o.question.kind, order=str),
    }


def run_provider(provider: ContextProvider, episodes: list[Episode], budget: int, answerer: Answerer,
                 judge: Judge) -> dict:
    return summarise(*evaluate(provider, episodes, budget, answerer, judge))
