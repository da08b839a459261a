"""The glyph-emergence report: per-bucket glyph use, accuracy and answer tokens of every model on
held-out problems, selectivity with bootstrap intervals, a plot, and the plain verdict."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from glyph_dist.emergence.difficulty import BOUNDS, BUCKETS  # noqa: E402
from glyph_dist.emergence.evaluate import CONFIDENCE, RESAMPLES  # noqa: E402
from glyph_dist.files import write_text  # noqa: E402
from glyph_dist.reports.atomic import save_png  # noqa: E402

PLOT, MARKDOWN, SUMMARY = "emergence.png", "emergence.md", "emergence.json"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _interval(sel: dict) -> str:
    if sel["value"] is None:
        return "- (a bucket is empty)"
    if sel["low"] is None:
        return f"{100 * sel['value']:+.1f} pp (too few problems for an interval)"
    return f"{100 * sel['value']:+.1f} pp [{100 * sel['low']:+.1f}, {100 * sel['high']:+.1f}]"


def verdict(models: list[dict]) -> str:
    emerged = [m["name"] for m in models if m["selectivity_emerged"]]
    if emerged:
        return (f"Selectivity emerged in {', '.join(emerged)}: its glyph use is higher on hard than on easy "
                f"held-out problems, with the {CONFIDENCE:.0%} interval above zero.")
    return ("Selectivity did not emerge: no model's any-glyph selectivity has its "
            f"{CONFIDENCE:.0%} interval above zero.")


def _training_lines(models: list[dict]) -> list[str]:
    trained = [m for m in models if m.get("training")]
    if not trained:
        return []
    lines = ["## Training", "", "| model | data (glyph share, selection, rows) | steps | final loss | eval loss "
             "| tokens/s |", "|---|---|---|---|---|---|"]
    for m in trained:
        t = m["training"]
        data = t.get("data") or {}
        rows = (data.get("files") or {}).get("train", {}).get("rows")
        lines.append(f"| {m['name']} | {data.get('glyph_share', '-')}, {data.get('selection', '-')}, {rows or '-'} "
                     f"| {t['steps']} | {t['loss']:.3f} | {t['eval_loss']:.3f} | {t['tokens_per_s']:.0f} |")
    return [*lines, ""]


def markdown(summary: dict) -> str:
    models, setup = summary["models"], summary["eval"]
    lines = ["# Glyph emergence on held-out problems", "",
             f"**{verdict(models)}**", "",
             f"Held-out problems: {setup['n']} ({', '.join(f'{k} {v}' for k, v in setup['by_source'].items())}), "
             f"a sample seeded {setup['seed']} spread over the difficulty buckets (score = words + 5 x numbers + "
             f"10 x operation words; easy < {BOUNDS[0]}, hard >= {BOUNDS[1]}). Prompt: the question alone as a "
             f"user message in each model's chat template; greedy decoding, at most {setup['max_new_tokens']} new "
             f"tokens. Answer tokens: the stripped answer re-encoded by the model's tokenizer.", "",
             "## Per bucket", "",
             "| model | bucket | n | glyph use (any) | glyph use (full structure) | accuracy | answer tokens |",
             "|---|---|---|---|---|---|---|"]
    for m in models:
        for b, cell in m["buckets"].items():
            lines.append(f"| {m['name']} | {b} | {cell['n']} | {_pct(cell['glyph_any'])} | {_pct(cell['glyph_full'])} "
                         f"| {_pct(cell['correct'])} | {cell['answer_tokens']:.0f} |")
    lines += ["", f"## Selectivity = rate(hard) - rate(easy), {CONFIDENCE:.0%} percentile bootstrap "
              f"({RESAMPLES} resamples within each bucket)", "",
              "| model | any glyph | full structure | accuracy (all) | emerged |", "|---|---|---|---|---|"]
    for m in models:
        lines.append(f"| {m['name']} | {_interval(m['selectivity']['glyph_any'])} | "
                     f"{_interval(m['selectivity']['glyph_full'])} | {_pct(m['accuracy'])} | "
                     f"{'yes' if m['selectivity_emerged'] else 'no'} |")
    lines += ["", *_training_lines(models), "## Models", ""]
    lines += [f"- {m['name']}: `{m['model']}` ({m['tokens_per_s']:.1f} answer tokens/s, {m['seconds']:.0f} s)"
              for m in models]
    return "\n".join([*lines, "", f"![glyph use and accuracy per bucket]({PLOT})", ""])


def plot(summary: dict, path: Path) -> Path:
    models = summary["models"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    width = 0.8 / max(1, len(models))
    x = np.arange(len(BUCKETS))
    for ax, metric, title in ((axes[0], "glyph_any", "glyph use (any glyph)"), (axes[1], "correct", "accuracy")):
        for k, m in enumerate(models):
            values = [m["buckets"].get(b, {}).get(metric, np.nan) for b in BUCKETS]
            ax.bar(x + (k - (len(models) - 1) / 2) * width, values, width, label=m["name"])
        ax.set_xticks(x, BUCKETS)
        ax.set(title=title, ylim=(0, 1), xlabel="difficulty bucket")
    axes[0].set_ylabel("rate on held-out problems")
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    try:
        return save_png(figure, path)
    finally:
        plt.close(figure)


def write_report(summary: dict, out: Path) -> list[Path]:
    """emergence.json, emergence.md and emergence.png under `out`."""
    out = Path(out)
    return [write_text(out / SUMMARY, json.dumps(summary, indent=1) + "\n"),
            write_text(out / MARKDOWN, markdown(summary)), plot(summary, out / PLOT)]
