"""The EvoMerge report: fitness curves, diversity, combination usage, the champion against every
parent on every task of the final split, its gain over the best parent with a bootstrap interval,
and the plain verdict.

The gain is champion minus best parent (the parent with the highest final-split fitness) on the
final split, which the evolution never saw. Its interval is a paired percentile bootstrap: the
held-out windows and the GSM8K problems (both models scored on the same ones) are resampled with
replacement, RESAMPLES times; perplexity and accuracy are recomputed, and with them the fitness
(the speed and memory terms, measured once, and the reference values stay fixed).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from glyph_dist.files import write_text  # noqa: E402
from glyph_dist.reports.atomic import save_png  # noqa: E402

RESAMPLES, CONFIDENCE, SEED = 2000, 0.95, 0
PLOT, MARKDOWN, SUMMARY = "evolve.png", "evolve.md", "evolve.json"


def _arrays(metrics: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    windows = metrics["windows"]
    return (np.array([w[1] for w in windows]), np.array([w[2] for w in windows], dtype=float),
            np.array(metrics.get("gsm8k_items", []), dtype=float))


def gain(champion: dict, parent: dict, weights: dict, ref: dict) -> dict:
    """Champion minus parent: fitness, perplexity ratio and accuracy, each with its bootstrap interval."""
    nll_c, tok, acc_c = _arrays(champion)
    nll_p, tok_p, acc_p = _arrays(parent)
    if len(nll_c) != len(nll_p) or len(acc_c) != len(acc_p) or not np.array_equal(tok, tok_p):
        raise ValueError("champion and parent were not scored on the same windows and problems")
    rng = np.random.default_rng(SEED)
    w_idx = rng.integers(len(tok), size=(RESAMPLES, len(tok)))
    fixed = {k: weights[k] * t for k, t in (("speed", champion["tokens_per_s"] / ref["tokens_per_s"]
                                               - parent["tokens_per_s"] / ref["tokens_per_s"]),
                                              ("memory", ref["weights_mb"] / champion["weights_mb"]
                                               - ref["weights_mb"] / parent["weights_mb"]))}
    total = sum(weights.values())

    def stats(idx_w, idx_q):
        ppl_c = np.exp(nll_c[idx_w].sum(-1) / tok[idx_w].sum(-1))
        ppl_p = np.exp(nll_p[idx_w].sum(-1) / tok[idx_w].sum(-1))
        d_acc = (acc_c[idx_q].mean(-1) - acc_p[idx_q].mean(-1)) if len(acc_c) else np.zeros_like(ppl_c)
        d_fit = (weights["perplexity"] * ref["perplexity"] * (1 / ppl_c - 1 / ppl_p) + weights["gsm8k"] * d_acc
                 + sum(fixed.values())) / total
        return d_fit, ppl_c / ppl_p, d_acc

    q_idx = rng.integers(max(1, len(acc_c)), size=(RESAMPLES, max(1, len(acc_c))))
    point = stats(np.arange(len(tok)), np.arange(len(acc_c)))
    draws = stats(w_idx, q_idx)
    tail = (1 - CONFIDENCE) / 2 * 100
    out = {}
    for name, value, sample in zip(("fitness", "perplexity_ratio", "gsm8k_accuracy"), point, draws):
        low, high = np.percentile(sample, [tail, 100 - tail])
        out[name] = {"value": float(value), "low": float(low), "high": float(high)}
    return out


def verdict(g: dict, best_parent: str) -> str:
    f = g["fitness"]
    if f["low"] > 0:
        return (f"Merging helped: the champion's fitness on the final split is above the best parent's "
                f"({best_parent}) by {f['value']:+.4f}, {CONFIDENCE:.0%} interval [{f['low']:+.4f}, {f['high']:+.4f}].")
    if f["high"] < 0:
        return (f"Merging did not help: the champion's fitness on the final split is below the best parent's "
                f"({best_parent}) by {-f['value']:.4f}, {CONFIDENCE:.0%} interval [{f['low']:+.4f}, {f['high']:+.4f}].")
    return (f"Merging did not clearly help: the champion's fitness gain over the best parent ({best_parent}) on "
            f"the final split is {f['value']:+.4f}, {CONFIDENCE:.0%} interval [{f['low']:+.4f}, {f['high']:+.4f}], "
            "which includes zero.")


def analyse(summary: dict) -> dict:
    parents = summary["parents_final"]
    ref = {"perplexity": min(p["perplexity"] for p in parents.values()),
           "tokens_per_s": max(p["tokens_per_s"] for p in parents.values()),
           "weights_mb": min(p["weights_mb"] for p in parents.values())}
    best = max(parents, key=lambda n: parents[n]["fitness"])
    g = gain(summary["champion"]["final"], parents[best], summary["fitness_weights"], ref)
    usage = Counter()
    for row in summary["history"]:
        usage.update(row["combos"])
    return {"best_parent": best, "gain": g, "verdict": verdict(g, best), "combo_usage": dict(usage)}


def plot(summary: dict, analysis: dict, path: Path) -> Path:
    history = summary["history"]
    gens = [h["generation"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    axes[0].plot(gens, [h["best"] for h in history], marker="o", label="best")
    axes[0].plot(gens, [h["mean"] for h in history], marker=".", label="mean")
    parents = summary["parents_fitness_split"]
    best_parent = max(parents, key=lambda n: parents[n]["fitness"])
    axes[0].axhline(parents[best_parent]["fitness"], color="grey", linestyle="--", label=f"best parent ({best_parent})")
    axes[0].set(title="fitness per generation (fitness split)", xlabel="generation", ylabel="fitness")
    axes[0].legend()
    axes[1].plot(gens, [h["diversity"] for h in history], marker="o", color="tab:green")
    for h in history:
        if h["reseeded"]:
            axes[1].axvline(h["generation"], color="tab:red", alpha=0.4)
    axes[1].set(title="diversity (mean normalised pairwise distance)", xlabel="generation")
    combos = sorted(analysis["combo_usage"], key=str)
    axes[2].barh([str(c) for c in combos], [analysis["combo_usage"][c] for c in combos])
    axes[2].set(title="members made per combination", xlabel="seeds, mutants and children")
    for ax in axes[:2]:
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


def _row(name: str, m: dict, sources: list[str]) -> str:
    ppl = " | ".join(f"{m['perplexity_by_source'][s]:.2f}" for s in sources)
    return (f"| {name} | {m['fitness']:.4f} | {m['perplexity']:.2f} | {ppl} | {m['gsm8k_accuracy']:.3f} "
            f"({round(m['gsm8k_accuracy'] * m.get('gsm8k_n', 0))}/{m.get('gsm8k_n', 0)}) | {m['tokens_per_s']:.0f} "
            f"| {m['weights_mb']:.2f} |")


def _interval(entry: dict, digits: int = 4) -> str:
    return f"{entry['value']:+.{digits}f} [{entry['low']:+.{digits}f}, {entry['high']:+.{digits}f}]"


def markdown(summary: dict, analysis: dict) -> str:
    champion, parents = summary["champion"], summary["parents_final"]
    sources = list(champion["final"]["perplexity_by_source"])
    weights = summary["fitness_weights"]
    ev = summary["config"]["eval"]
    g = analysis["gain"]
    lines = [f"# EvoMerge: {summary['name']}", "", f"**{analysis['verdict']}**", "",
             f"Family: {summary['family']}; parents: {', '.join(summary['parents'])}"
             + (f"; base (task-vector anchor): {summary['base']}" if summary["base"] else
                "; no common base (task vectors against the interpolated model)") + ". Share of the target's "
             "parameters each parent holds in the same shape (what it can merge into): "
             + ", ".join(f"{n} {100 * v:.1f}%" for n, v in summary["shared_with_target"].items()) + ".",
             f"Generations run: {summary['generations_run']} (stopped: {summary['stopped']}); evaluations in the "
             f"last call: {summary['evaluations']}. Champion: {champion['id']} ({champion['origin'].get('kind')}, "
             f"{champion['origin'].get('combo')}), {champion['depth']} layers.",
             f"Fitness = ({weights['perplexity']} x best-parent perplexity / perplexity + {weights['gsm8k']} x GSM8K "
             f"accuracy + {weights['speed']} x tokens/s / fastest parent's + {weights['memory']} x smallest parent's "
             f"weights / weights) / {sum(weights.values()):g}.",
             f"Held-out data: windows of {ev['seq_len']} tokens, up to {ev['tokens']} tokens a source and split "
             f"(sources {', '.join(sources)}); GSM8K test problems: the first {ev['gsm8k_fitness']} for the fitness, "
             f"the next {ev['gsm8k_final']} for the final split; greedy decoding, at most {ev['max_new_tokens']} new "
             "tokens. Tokens/s is measured on a shared machine and is noisy.", "",
             "## Final split (never seen by the evolution)", "",
             f"| model | fitness | perplexity | {' | '.join(f'ppl {s}' for s in sources)} | GSM8K | tokens/s | MiB |",
             "|---|" + "---|" * (5 + len(sources))]
    lines += [_row(n, m, sources) for n, m in parents.items()]
    lines += [_row(f"**champion** ({champion['id']})", champion["final"], sources), "",
              f"Champion minus best parent ({analysis['best_parent']}), {CONFIDENCE:.0%} paired bootstrap interval "
              f"({RESAMPLES} resamples of windows and problems):", "",
              f"- fitness: {_interval(g['fitness'])}",
              f"- perplexity ratio (champion / parent): {g['perplexity_ratio']['value']:.4f} "
              f"[{g['perplexity_ratio']['low']:.4f}, {g['perplexity_ratio']['high']:.4f}]",
              f"- GSM8K accuracy: {_interval(g['gsm8k_accuracy'], 3)}", "",
              "## Evolution (fitness split)", "", f"![fitness, diversity, combinations]({PLOT})", "",
              "| generation | best | mean | diversity | evaluated | re-seeded |", "|---|---|---|---|---|---|"]
    lines += [f"| {h['generation']} | {h['best']:.4f} | {h['mean']:.4f} | {h['diversity']:.4f} | {h['evaluated']} "
              f"| {'yes' if h['reseeded'] else ''} |" for h in summary["history"]]
    lines += ["", "Members made per combination: " + ", ".join(f"{c}: {n}" for c, n in
                                                            sorted(analysis["combo_usage"].items(), key=str)), ""]
    return "\n".join(lines)


def write_report(summary: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse(summary)
    paths = {"plot": plot(summary, analysis, out / PLOT)}
    paths["markdown"] = write_text(out / MARKDOWN, markdown(summary, analysis))
    paths["summary"] = write_text(out / SUMMARY, json.dumps({**analysis, "name": summary["name"]}, indent=1) + "\n")
    return paths

