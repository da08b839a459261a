"""Fitness: a weighted mean of four measured terms, each scaled so the best parent scores 1 on it:

    perplexity   best parent's perplexity / the candidate's        (lower perplexity is better)
    gsm8k        GSM8K accuracy on the split                       (0..1, not rescaled)
    speed        the candidate's tokens/s / the fastest parent's
    memory       the smallest parent's weights / the candidate's    (a deeper stack costs more)

fitness = sum_k w_k term_k / sum_k w_k, with the weights w_k from the config (`fitness:`). The
reference values are the parents' on the same split, so fitness and final scores are comparable
within their split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from glyph_dist.errors import GlyphDistError


@dataclass
class FitnessWeights:
    perplexity: float = 1.0
    gsm8k: float = 1.0
    speed: float = 0.1
    memory: float = 0.1

    def __post_init__(self):
        values = asdict(self)
        if any(v < 0 for v in values.values()) or not sum(values.values()):
            raise GlyphDistError(f"fitness weights must be >= 0 and not all 0, got {values}")


def reference(parents: list[dict]) -> dict:
    """The best parent value of each measure."""
    return {"perplexity": min(p["perplexity"] for p in parents),
            "tokens_per_s": max(p["tokens_per_s"] for p in parents),
            "weights_mb": min(p["weights_mb"] for p in parents)}


def terms(metrics: dict, ref: dict) -> dict:
    return {"perplexity": ref["perplexity"] / metrics["perplexity"], "gsm8k": metrics["gsm8k_accuracy"],
            "speed": metrics["tokens_per_s"] / ref["tokens_per_s"], "memory": ref["weights_mb"] / metrics["weights_mb"]}


def fitness(metrics: dict, ref: dict, weights: FitnessWeights) -> float:
    w = asdict(weights)
    t = terms(metrics, ref)
    return sum(w[k] * t[k] for k in w) / sum(w.values())
