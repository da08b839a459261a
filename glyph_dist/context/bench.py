"""One cell of the context benchmark: a data set, a budget, an answerer and a judge; every strategy.

For each strategy and question: build the context (timed), ask the answerer, score the answer with
the judge (`success` is containment of the gold answer; an LLM judge adds its verdicts and their
agreement with the rule). Besides the judged scores, each context is measured model-free, whatever
the answerer: whether every sentence
of the evidence turns is in it verbatim (`evidence_recall`), whether it is once the context is expanded
(`evidence_recall_expanded`: every glyph code replaced by the phrase it decodes to, so residual codes
that keep a turn's facts are credited and bare codes that lose them are not), whether the gold answer
is (`answer_recall`), and whether evidence missing verbatim is there as a glyph code (`glyph_evidence`,
counted apart: a family's code does not carry a turn's particular facts). Results are also broken
down by evidence position and by episode length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import fmean
from typing import Protocol

from glyph_dist.context.episodes import Episode, Question, load_episodes
from glyph_dist.context.strategies import STRATEGIES, Context, Memory, Strategy, check_strategies, make_strategy
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.schema import DEFAULT_READ
from glyph_dist.fgt.hybrid import GLYPH_OPEN, HybridTokenizer
from glyph_dist.metrics import contains
from glyph_dist.models.answerers import ContextRecall, QARequest
from glyph_dist.models.judges import llm_rates

DEFAULT_STRATEGIES = ("raw_truncate", "fgt_context", "rag_topk", "bm25_topk", "full")
LENGTH_BUCKETS = ((0, 49), (50, 99), (100, 199), (200, None))  # turns per episode, lowest first


@dataclass(frozen=True)
class CellConfig:
    dataset: str
    budget: int
    split: str | None = "test"
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    answerer: str = "context-recall"
    judge: str = "rule"
    seed: int = 1337
    # FGMS read of fgt_context, FGMS's default: the question's relevance alone (recency is no prior for a
    # question about any point of the history), whole turns verbatim (evidence recall counts whole evidence
    # turns verbatim; a glyph code alone does not carry a turn's facts)
    policy: str = DEFAULT_READ["policy"]
    mode: str = DEFAULT_READ["mode"]
    relevance: str = DEFAULT_READ["relevance"]
    unit: str = DEFAULT_READ["unit"]
    dataset_name: str = field(default="")

    def __post_init__(self):
        if self.budget < 1:
            raise GlyphDistError(f"budget must be a positive number of tokens, got {self.budget}")
        check_strategies(self.strategies)
        if not self.dataset_name:
            object.__setattr__(self, "dataset_name", Path(self.dataset).stem)


class Answerer(Protocol):
    name: str

    def answer(self, requests: list[QARequest]) -> list[str]: ...


class Judge(Protocol):
    name: str

    def score(self, predictions: list[str], golds: list[str], questions: list[str]) -> list[dict[str, float]]: ...


class PairwiseJudge(Protocol):
    name: str

    def compare(self, pairs: list) -> list: ...


@dataclass
class Outcome:
    """One question under one strategy."""

    question: Question
    episode: Episode
    context: Context
    request: QARequest  # what the answerer gets
    expanded: str  # the context with every glyph code decoded (`HybridTokenizer.expand`)
    answer: str = ""
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def evidence_present(self) -> bool:
        """Every sentence of every evidence turn is in the context verbatim."""
        return ContextRecall.recalled(self.request)

    @property
    def evidence_present_expanded(self) -> bool:
        """Every sentence of every evidence turn is in the expanded context verbatim."""
        return ContextRecall.recalled(replace(self.request, context=self.expanded))

    @property
    def glyph_only(self) -> bool:
        """Evidence missing verbatim, yet each evidence turn is in the context as a glyph code at least."""
        return not self.evidence_present and all(i in self.context.glyph_turns for i in self.question.evidence)


def token_counter_name(hybrid: HybridTokenizer) -> str:
    """How a result names its token counter: the tape's hybrid tokenizer, with its version and size."""
    return f"hybrid tokenizer of tape {hybrid.tape.version} ({len(hybrid.base):,} tokens with the glyphs)"


def ask(episode: Episode, question: Question, context: Context, hybrid: HybridTokenizer) -> Outcome:
    request = QARequest(question.question, context.text, question.answer, episode.evidence_sentences(question))
    expanded = hybrid.expand(context.text) if GLYPH_OPEN in context.text else context.text
    return Outcome(question, episode, context, request, expanded)


def position_bucket(position: float) -> str:
    """Fifths of the episode: "0.0-0.2", ..., "0.8-1.0"."""
    k = min(int(position * 5), 4)
    return f"{k / 5:.1f}-{(k + 1) / 5:.1f}"


def length_bucket(turns: int) -> str:
    for low, high in LENGTH_BUCKETS:
        if high is None or turns <= high:
            return f"{low}-{high}" if high is not None else f"{low}+"
    raise AssertionError("the last length bucket is open")


def _bucket_rows(outcomes: list[Outcome], bucket: Callable[[Outcome], str]) -> list[dict]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(bucket(outcome), []).append(outcome)
    return [{"bucket": label, "n": len(group), "success_rate": fmean(o.scores["success"] for o in group),
             "evidence_recall": fmean(o.evidence_present for o in group)}
            for label, group in sorted(groups.items(), key=lambda item: float(item[0].split("-")[0].rstrip("+")))]


def answer_with(strategy: Strategy, episodes: list[Episode], budget: int, answerer: Answerer,
                judge: Judge) -> tuple[list[Outcome], float]:
    """Every question's context, answer and scores under the strategy, and the seconds it took."""
    start = time.perf_counter()
    outcomes = [ask(e, q, strategy.context(e, q, budget), strategy.hybrid) for e in episodes for q in e.questions]
    answers = answerer.answer([o.request for o in outcomes])
    scored = judge.score(answers, [o.question.answer for o in outcomes], [o.question.question for o in outcomes])
    for outcome, answer, scores in zip(outcomes, answers, scored):
        outcome.answer, outcome.scores = answer, scores
    return outcomes, time.perf_counter() - start


def summarise(outcomes: list[Outcome], seconds: float) -> dict:
    """The strategy's row of the cell: success (containment), EM, F1, an LLM judge's rates, recalls, tokens,
    latency and the two breakdowns."""
    return {
        "success_rate": fmean(o.scores["success"] for o in outcomes),
        "em": fmean(o.scores["em"] for o in outcomes),
        "f1": fmean(o.scores["f1"] for o in outcomes),
        **llm_rates([o.scores for o in outcomes]),
        "avg_tokens": fmean(o.context.tokens for o in outcomes),
        "max_tokens": max(o.context.tokens for o in outcomes),
        "evidence_recall": fmean(o.evidence_present for o in outcomes),
        "evidence_recall_expanded": fmean(o.evidence_present_expanded for o in outcomes),
        "answer_recall": fmean(contains(o.context.text, o.question.answer) for o in outcomes),
        "glyph_evidence": fmean(o.glyph_only for o in outcomes),
        "n_questions": len(outcomes),
        "latency_ms_mean": 1e3 * seconds / len(outcomes),
        "by_evidence_position": _bucket_rows(outcomes, lambda o: position_bucket(o.question.evidence_position)),
        "by_episode_length": _bucket_rows(outcomes, lambda o: length_bucket(len(o.episode.turns))),
    }


def run_strategy(strategy: Strategy, episodes: list[Episode], budget: int, answerer: Answerer,
                 judge: Judge) -> dict:
    return summarise(*answer_with(strategy, episodes, budget, answerer, judge))


def pairwise(outcomes: dict[str, list[Outcome]], judge: PairwiseJudge, reference: str = "fgt_context") -> dict:
    """`reference`'s answers against each other strategy's, question by question, judged in both
    orders against the ground-truth episode: rates of reference wins (a), losses (b) and ties."""
    from glyph_dist.models.judges import PairRequest, preference_rates

    rates = {}
    for name, theirs in outcomes.items():
        if name == reference:
            continue
        pairs = [PairRequest(o.question.question, "\n".join(t for _, t in o.episode.turns), o.question.answer,
                             o.answer, other.answer) for o, other in zip(outcomes[reference], theirs)]
        rates[name] = preference_rates(judge.compare(pairs))
    return {"judge": judge.name, "reference": reference, "versus": rates}


def _scores_line(row: dict, answerer: str) -> str:
    """Evidence recall alone for the model-free answerer (its EM would restate it); else the answer's scores too."""
    recall = f"evidence recall (model-free) {row['evidence_recall']:.3f}"
    if answerer == ContextRecall.name:
        return recall
    llm = f"  LLM judge equivalent {row['llm_equivalent']:.3f}" if "llm_equivalent" in row else ""
    return f"containment {row['success_rate']:.3f}  EM {row['em']:.3f}  F1 {row['f1']:.3f}{llm}  {recall}"


def run_cell(config: CellConfig, hybrid: HybridTokenizer, answerer: Answerer, judge: Judge,
             memory: Memory | None = None, token_counter: str = "", quiet: bool = True,
             pairwise_judge: PairwiseJudge | None = None) -> dict:
    """The cell's result in the context-benchmark schema: {"config": ..., "results": {strategy: row}},
    plus `pairwise` (fgt_context against each strategy) when a pairwise judge is given."""
    if pairwise_judge is not None and ("fgt_context" not in config.strategies or len(config.strategies) < 2):
        raise GlyphDistError("a pairwise judge compares fgt_context with other strategies: list them all")
    episodes = [e for e in load_episodes(config.dataset, config.split) if e.questions]
    results, outcomes = {}, {}
    for name in config.strategies:
        strategy = make_strategy(name, hybrid, memory, policy=config.policy, mode=config.mode,
                                 relevance=config.relevance, unit=config.unit)
        outcomes[name], seconds = answer_with(strategy, episodes, config.budget, answerer, judge)
        results[name] = row = summarise(outcomes[name], seconds)
        if not quiet:
            print(f"   {name:<13} {_scores_line(row, answerer.name)}  tokens {row['avg_tokens']:7.1f}  "
                  f"{row['latency_ms_mean']:.1f} ms/question", flush=True)
    over = [n for n, r in results.items() if STRATEGIES[n].uses_budget and r["max_tokens"] > config.budget]
    if over:
        raise GlyphDistError(f"budget exceeded by {', '.join(over)}: a strategy must never exceed the budget")
    cell = {"config": {**asdict(config), "strategies": list(config.strategies), "answerer": answerer.name,
                       "judge": judge.name, "token_counter": token_counter,
                       "n_episodes": len(episodes), "n_questions": sum(len(e.questions) for e in episodes)},
            "results": results}
    if pairwise_judge is not None:
        cell["pairwise"] = pairwise(outcomes, pairwise_judge)
    return cell
