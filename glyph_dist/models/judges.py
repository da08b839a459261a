"""Judges: score answers against the gold answer.

- `rule` (model-free, no torch import) scores each (prediction, gold) with the metric functions in
  `METRICS` (`glyph_dist.metrics`), all aggregated by their mean (`aggregate`). Text is normalised
  SQuAD-style: lower-cased, punctuation and symbols deleted, the articles a/an/the dropped, whitespace
  collapsed.
- `llm:MODEL` (a catalog name such as `smollm2`, or a local causal LM directory) judges with a
  model, in two ways:
  - pointwise (`score`): the rule metrics, plus `llm_equivalent`, the model's verdict on "is the
    prediction equivalent to the gold answer?": 1.0 when the next-token probability of yes (summed
    over the first tokens of "yes", " yes", "Yes", " Yes") exceeds that of no. An instruct model is
    asked in its chat template. An empty prediction is never equivalent (the model is not asked).
    `agreement` measures how often that verdict equals the rule's (EM, and containment) with Cohen's
    kappa.
  - pairwise (`compare`): given the episode's ground-truth text it says which of two answers is
    more correct. It compares the log-probabilities of " A" and " B" as the continuation (no
    sampling; a token both start with, such as a bare space, is appended to the prompt and the first
    differing token decides), asking with the answers in both orders to cancel position bias: the
    two orders must agree for a winner, else the pair is a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import fmean
from typing import Literal

from glyph_dist.errors import GlyphDistError
from glyph_dist.metrics import contains, exact_match, f1, success
from glyph_dist.models.registry import build, canonical
from glyph_dist.registry import Registry

METRICS = {"em": exact_match, "f1": f1, "contains": contains, "success": success}


def aggregate(scores: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over the scored items."""
    if not scores:
        raise GlyphDistError("no scores to aggregate")
    return {metric: fmean(s[metric] for s in scores) for metric in scores[0]}


class RuleJudge:
    name = "rule"

    def score(self, predictions: list[str], golds: list[str], questions: list[str] | None = None
              ) -> list[dict[str, float]]:
        """Every metric in `METRICS` for each (prediction, gold); the questions are not needed."""
        if len(predictions) != len(golds):
            raise GlyphDistError(f"{len(predictions)} predictions for {len(golds)} gold answers")
        return [{metric: fn(p, g) for metric, fn in METRICS.items()} for p, g in zip(predictions, golds)]


LLM_VERDICT = "llm_equivalent"
RULE_VERDICTS = ("em", "contains")  # the rule verdicts the LLM's is compared with


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's kappa of two binary raters; None where it is undefined (both say the same thing throughout)."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def agreement(scores: list[dict[str, float]]) -> dict[str, float | None]:
    """For scores with an LLM verdict: the share of items where it equals the rule's EM and containment
    verdicts (`llm_em_agreement`, `llm_contains_agreement`) and Cohen's kappa of each; {} without one."""
    if not scores or LLM_VERDICT not in scores[0]:
        return {}
    llm = [s[LLM_VERDICT] == 1 for s in scores]
    out: dict[str, float | None] = {}
    for rule in RULE_VERDICTS:
        verdicts = [s[rule] == 1 for s in scores]
        out[f"llm_{rule}_agreement"] = fmean(x == y for x, y in zip(llm, verdicts))
        out[f"llm_{rule}_kappa"] = cohen_kappa(llm, verdicts)
    return out


def llm_rates(scores: list[dict[str, float]]) -> dict[str, float | None]:
    """An LLM judge's share of items found equivalent (`llm_equivalent`) and its `agreement` with the rule;
    {} for scores without LLM verdicts."""
    if not scores or LLM_VERDICT not in scores[0]:
        return {}
    return {LLM_VERDICT: fmean(s[LLM_VERDICT] for s in scores), **agreement(scores)}


POINTWISE_PROMPT = ("Question: {question}\nGold answer: {gold}\nPredicted answer: {prediction}\n\n"
                    "Is the predicted answer equivalent to the gold answer? Reply yes or no.")
_PLAIN_STEM = "\nEquivalent:"  # ends the pointwise prompt of a model without a chat template
YES, NO = ("yes", " yes", "Yes", " Yes"), ("no", " no", "No", " No")

JUDGE_PROMPT = (
    "Episode:\n{episode}\n\nQuestion: {question}\nReference answer: {gold}\n\n"
    "Answer A: {first}\nAnswer B: {second}\n\n"
    "Which answer is more correct with respect to the episode, A or B?\nBetter answer:"
)
_STEM = JUDGE_PROMPT.rsplit("\n", 1)[1]


@dataclass(frozen=True)
class PairRequest:
    question: str
    episode: str  # the episode's ground-truth text
    gold: str
    answer_a: str
    answer_b: str

    def prompt(self, first: str, second: str) -> str:
        return JUDGE_PROMPT.format(episode=self.episode, question=self.question, gold=self.gold,
                                   first=first, second=second)


@dataclass(frozen=True)
class Preference:
    winner: Literal["a", "b", "tie"]
    prob_a: float  # P(answer a is the better one), averaged over both orders


def _sigmoid(x: float) -> float:
    return 0.5 * (1 + math.tanh(x / 2))  # no overflow for large |x|


def _vote(prob_a: float) -> str:
    return "a" if prob_a > 0.5 else "b" if prob_a < 0.5 else "tie"


def preference_rates(preferences: list[Preference]) -> dict[str, float]:
    """Fractions of pairs won by a, by b and tied, and the mean `prob_a`."""
    if not preferences:
        raise GlyphDistError("no preferences to aggregate")
    rates = {w: fmean(p.winner == w for p in preferences) for w in ("a", "b", "tie")}
    return {**rates, "prob_a": fmean(p.prob_a for p in preferences)}


class LLMJudge:
    """A local causal LM as judge: pointwise equivalence verdicts beside the rule metrics (`score`), and
    pairwise preferences with position bias cancelled by asking in both orders (`compare`).

    `chat` (default: whether the tokenizer has a chat template) asks the pointwise question in the chat
    template. `load` builds the model object from its directory (default: a `LocalLM` on `device`).
    """

    def __init__(self, path: str, batch_size: int = 8, device: str | None = None, chat: bool | None = None,
                 load: Callable | None = None):
        if load is None:
            from glyph_dist.models.hf import LocalLM  # torch and transformers load only with a model

            self.lm = LocalLM(path, device)
        else:
            self.lm = load(path)
        self.name = f"llm:{self.lm.name}"
        self.batch_size = batch_size
        self.chat = self.lm.has_chat_template if chat is None else chat
        self.yes, self.no = self._verdict_tokens()
        self.lead, self.choices = self._choice_tokens()

    def _verdict_tokens(self) -> tuple[list[int], list[int]]:
        """The first tokens of the spellings of yes and of no, those of both dropped."""
        yes, no = ({ids[0] for ids in self.lm.encode(list(words), special_tokens=False) if ids} for words in (YES, NO))
        yes, no = sorted(yes - no), sorted(no - yes)
        if not yes or not no:
            raise GlyphDistError(f"the tokenizer of {self.name} does not tell yes from no by their first tokens")
        return yes, no

    def verdicts(self, questions: list[str], predictions: list[str], golds: list[str]) -> list[float]:
        """1.0 where the model finds the prediction equivalent to the gold answer (P(yes) > P(no)), else 0.0."""
        if not len(questions) == len(predictions) == len(golds):
            raise GlyphDistError(f"{len(questions)} questions, {len(predictions)} predictions, {len(golds)} gold answers")
        asked = [i for i, p in enumerate(predictions) if p.strip()]
        prompts = [POINTWISE_PROMPT.format(question=questions[i], gold=golds[i], prediction=predictions[i])
                   + ("" if self.chat else _PLAIN_STEM) for i in asked]
        out = [0.0] * len(predictions)
        if asked:
            logprobs = self.lm.next_token_logprobs(self.lm.encode(prompts, chat=self.chat), self.yes + self.no,
                                                   self.batch_size)
            k = len(self.yes)
            said_yes = logprobs[:, :k].logsumexp(-1) > logprobs[:, k:].logsumexp(-1)
            for i, verdict in zip(asked, said_yes.tolist()):
                out[i] = float(verdict)
        return out

    def score(self, predictions: list[str], golds: list[str], questions: list[str]) -> list[dict[str, float]]:
        """The rule metrics of each (prediction, gold) and the model's verdict `llm_equivalent`."""
        scores = RuleJudge().score(predictions, golds)
        for s, verdict in zip(scores, self.verdicts(questions, predictions, golds)):
            s[LLM_VERDICT] = verdict
        return scores

    def _choice_tokens(self) -> tuple[list[int], list[int]]:
        """The tokens ' A' and ' B' share after the prompt's last line, and the first one where they differ."""
        stem, *letters = self.lm.encode([_STEM, f"{_STEM} A", f"{_STEM} B"])
        if any(full[:len(stem)] != stem for full in letters):
            raise GlyphDistError(f"the tokenizer of {self.name} merges the answer letter into the prompt")
        a, b = (full[len(stem):] for full in letters)
        lead = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        if lead is None:
            raise GlyphDistError(f"the tokenizer of {self.name} does not tell ' A' from ' B'")
        return a[:lead], [a[lead], b[lead]]

    def compare(self, pairs: list[PairRequest]) -> list[Preference]:
        """One preference per pair: a, b, or tie when the two orders disagree."""
        prompts = [p.prompt(p.answer_a, p.answer_b) for p in pairs] + [p.prompt(p.answer_b, p.answer_a) for p in pairs]
        encoded = [ids + self.lead for ids in self.lm.encode(prompts)]
        logprobs = self.lm.next_token_logprobs(encoded, self.choices, self.batch_size).tolist()
        shown_first = [_sigmoid(a - b) for a, b in logprobs]  # P(the answer shown as A is better)
        n, out = len(pairs), []
        for forward, backward in zip(shown_first[:n], (1 - p for p in shown_first[n:])):  # P(a is better)
            votes = {_vote(forward), _vote(backward)}
            out.append(Preference(votes.pop() if len(votes) == 1 else "tie", (forward + backward) / 2))
        return out


Judge = RuleJudge | LLMJudge
JUDGES = Registry("judge", {"rule": RuleJudge})
PREFIXED = Registry("judge prefix", {"llm": LLMJudge})


def judge_spec(spec: str) -> str:
    """The canonical spec: `rule`, or `llm:` and the absolute model directory (checked)."""
    return canonical("judge", spec, JUDGES, PREFIXED)


def get_judge(spec: str = "rule", **options) -> Judge:
    """`rule` or `llm:MODEL` (a catalog name or a local causal LM directory)."""
    return build("judge", spec, JUDGES, PREFIXED, **options)
