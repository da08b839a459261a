"""Anti-theater checks: each is computed from the model's own outputs on held-out positions, and each can fail.

    ablation      next-token accuracy of the true tokens with thoughts (the mixed prediction) minus
                  without them (the model alone): must exceed min_drop (0.02). A model whose
                  thoughts are ignored (mixing weight 0) scores a drop of 0 and fails.
    divergence    the share of a thought's token bigrams that do not occur in its context, averaged
                  over thoughts: must exceed min_divergence. A thought that copies its input fails.
    correlation   Pearson correlation, over thoughts, between coherence (the mean log-prob of the
                  thought's tokens under the baked model) and accuracy (the share of the true tokens
                  its mixed prediction gets right): must exceed min_correlation. Undefined (a
                  constant series) counts as a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from glyph_dist.forge.quietstar.step import MixingHead, Scored, Thoughts, sample_thoughts, score, with_thought_ids


@dataclass
class Check:
    name: str
    value: float
    threshold: float
    passed: bool


def ablation_check(accuracy_with: float, accuracy_without: float, min_drop: float) -> Check:
    drop = accuracy_with - accuracy_without
    return Check("ablation", drop, min_drop, drop > min_drop)


def divergence_check(thoughts: list[list[int]], contexts: list[list[int]], min_divergence: float) -> Check:
    shares = []
    for thought, context in zip(thoughts, contexts):
        seen = set(zip(context, context[1:]))
        pairs = list(zip(thought, thought[1:]))
        shares.append(sum(p not in seen for p in pairs) / max(len(pairs), 1))
    value = sum(shares) / len(shares)
    return Check("divergence", value, min_divergence, value > min_divergence)


def pearson(xs: list[float], ys: list[float]) -> float:
    """Pearson's r; nan when either series is constant."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def correlation_check(coherence: list[float], accuracy: list[float], min_correlation: float) -> Check:
    r = pearson(coherence, accuracy)
    return Check("correlation", r, min_correlation, not math.isnan(r) and r > min_correlation)


@torch.no_grad()
def run_checks(model: nn.Module, head: MixingHead, reference: nn.Module, thoughts: Thoughts | None,
               contexts: torch.Tensor, targets: torch.Tensor, ids: dict, settings) -> list[Check]:
    """Sample thoughts on held-out (context, true tokens) pairs (or score the given ones) and run the checks."""
    training = model.training
    model.eval()
    if thoughts is None:
        thoughts = sample_thoughts(model, contexts, targets, ids["open"], settings.n_thoughts,
                                   settings.thought_length, settings.temperature)
    scored: Scored = score(model, head, thoughts, ids["open"], ids["close"])
    right_with = (scored.logits_mix.argmax(-1) == targets[:, None]).float()  # [P, n, A]
    right_without = (scored.logits_without.argmax(-1) == targets).float()  # [P, A]
    W, L = contexts.shape[1], thoughts.tokens.shape[2]
    ref_logits = reference(input_ids=with_thought_ids(thoughts, ids["open"], ids["close"]), use_cache=False).logits
    ref_lp = F.log_softmax(ref_logits.float()[:, W:W + L], -1).gather(-1, thoughts.tokens.flatten(0, 1)[..., None])
    coherence = ref_lp.squeeze(-1).mean(-1).tolist()
    P, n, _ = thoughts.tokens.shape
    model.train(training)
    return [ablation_check(right_with.mean().item(), right_without.mean().item(), settings.min_ablation_drop),
            divergence_check(thoughts.tokens.flatten(0, 1).tolist(), contexts.repeat_interleave(n, 0).tolist(),
                             settings.min_divergence),
            correlation_check(coherence, right_with.mean(-1).flatten().tolist(), settings.min_correlation)]
