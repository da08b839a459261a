"""One cell of the context benchmark: a data set, a budget, an answerer and a judge; every strategy.

Each strategy runs as a context provider through the one evaluation loop (`glyph_dist/eval/loop.py`):
every episode is taught to it afresh, each question's context is read under the budget, answered
and judged; the loop's row holds the judged scores, the model-free recalls and the breakdowns by
evidence position and episode length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from glyph_dist.context.episodes import Episode
from glyph_dist.context.strategies import Memory, Strategy
from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.episodes import ISOLATIONS, load_data
from glyph_dist.eval.loop import Answerer, Judge, Outcome, evaluate, model_surprise, run_provider, summarise
from glyph_dist.fgms.schema import DEFAULT_READ, read_settings
from glyph_dist.fgt.hybrid import HybridTokenizer
from glyph_dist.models.answerers import ContextRecall
from glyph_dist.providers.adapters import StrategyProvider
from glyph_dist.providers.base import Setup
from glyph_dist.providers.registry import PROVIDERS, build_provider, capabilities

DEFAULT_STRATEGIES = ("raw_truncate", "fgt_context", "rag_topk", "bm25_topk", "full")


@dataclass(frozen=True)
class CellConfig:
    dataset: str
    budget: int
    split: str | None = "test"
    isolation: str | None = None  # episode: a fresh memory per episode; stream: the whole file one teach stream
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
    neighbours: int = DEFAULT_READ["neighbours"]
    dataset_name: str = field(default="")

    def __post_init__(self):
        if self.budget < 1:
            raise GlyphDistError(f"budget must be a positive number of tokens, got {self.budget}")
        PROVIDERS.check(self.strategies)
        if self.isolation not in (None, *ISOLATIONS):
            raise GlyphDistError(f"isolation {self.isolation!r} is not one of {', '.join(ISOLATIONS)}")
        if not self.dataset_name:
            object.__setattr__(self, "dataset_name", Path(self.dataset).stem)


class PairwiseJudge(Protocol):
    name: str

    def compare(self, pairs: list) -> list: ...


def token_counter_name(hybrid: HybridTokenizer) -> str:
    """How a result names its token counter: the tape's hybrid tokenizer, with its version and size."""
    return f"hybrid tokenizer of tape {hybrid.tape.version} ({len(hybrid.base):,} tokens with the glyphs)"


def run_strategy(strategy: Strategy, episodes: list[Episode], budget: int, answerer: Answerer, judge: Judge) -> dict:
    """The strategy's row on the episodes, each episode taught to it afresh (see `eval/loop.py`)."""
    return run_provider(StrategyProvider(Setup(strategy.hybrid), strategy), episodes, budget, answerer, judge)


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
    episodes = load_data(config.dataset, config.split, config.isolation)
    setup = Setup(hybrid, memory, read_settings(config))
    if any(capabilities(name).needs_surprise for name in config.strategies):
        setup.surprise = model_surprise(answerer, [text for e in episodes for _, text in e.turns])
    results, outcomes = {}, {}
    for name in config.strategies:
        outcomes[name], timing = evaluate(build_provider(name, setup), episodes, config.budget, answerer, judge)
        results[name] = row = summarise(outcomes[name], timing)
        if not quiet:
            print(f"   {name:<13} {_scores_line(row, answerer.name)}  tokens {row['avg_tokens']:7.1f}  "
                  f"{row['latency_ms_mean']:.1f} ms/question", flush=True)
    cell = {"config": {**asdict(config), "strategies": list(config.strategies), "answerer": answerer.name,
                       "judge": judge.name, "token_counter": token_counter,
                       "n_episodes": len(episodes), "n_questions": sum(len(e.questions) for e in episodes)},
            "results": results}
    if pairwise_judge is not None:
        cell["pairwise"] = pairwise(outcomes, pairwise_judge)
    return cell
