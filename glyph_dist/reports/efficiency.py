"""The context-efficiency report: a table per kind of code, a four-panel threshold plot, and markdown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = [
    ("threshold", "threshold", "{:.2f}"),
    ("tokens_regular_mean", "tokens/doc regular", "{:.1f}"),
    ("tokens_hybrid_mean", "tokens/doc hybrid", "{:.1f}"),
    ("token_reduction", "reduction", "{:.1%}"),
    ("glyph_usage", "glyph usage", "{:.1%}"),
    ("docs_per_window_hybrid", "docs/window", "{:.2f}"),
    ("doc_cosine_mean", "cosine (embedder)", "{:.3f}"),
    ("doc_token_f1_mean", "token F1", "{:.3f}"),
    ("exact_reconstruction_rate", "exact reconstruction", "{:.1%}"),
    ("glyph_phrase_token_f1_mean", "F1 of coded phrases", "{:.3f}"),
    ("residual_usage", "residual usage", "{:.1%}"),
    ("sentences_per_1k_tokens", "sentences/1k tokens", "{:.1f}"),
]


def _cell(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def markdown_table(rows: list[dict]) -> str:
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---:" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(row[key], fmt) for key, _, fmt in COLUMNS) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def plot_exactness(result: dict, ax) -> None:
    """Sentences per 1,000 tokens against the exact reconstruction rate: text, glyph and residual codes."""
    ax.plot([1.0], [result["sentences_per_1k_tokens_regular"]], "k*", markersize=12, label="text (verbatim)")
    for key, style, label in (("rows", "o-", "glyph codes"), ("residual_rows", "s-", "residual codes")):
        rows = result[key]
        ax.plot([r["exact_reconstruction_rate"] for r in rows], [r["sentences_per_1k_tokens"] for r in rows],
                style, label=label)
        for r in rows[::3] if key == "rows" else ():  # residual codes sit at one point: unlabelled
            ax.annotate(f"{r['threshold']:.2f}", (r["exact_reconstruction_rate"], r["sentences_per_1k_tokens"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="exact reconstruction rate (share of sentences)", ylabel="sentences per 1,000 tokens",
           title="Evidence per token vs exactness (labels: threshold)")


def plot(result: dict, path: Path) -> None:
    """Compression and preservation of glyph codes against the threshold, the trade-off between
    them, and evidence per token against exactness for text, glyph and residual codes."""
    rows = result["rows"]
    x = [r["threshold"] for r in rows]
    reduction = [r["token_reduction"] for r in rows]
    cosine = [r["doc_cosine_mean"] for r in rows]
    f1 = [r["doc_token_f1_mean"] for r in rows]
    fig, (left, middle, right, last) = plt.subplots(1, 4, figsize=(21, 4.4))
    left.plot(x, reduction, "o-", label="token reduction")
    left.plot(x, [r["glyph_usage"] for r in rows], "s--", label="glyph usage (share of phrases)")
    left.set(xlabel="similarity threshold", ylabel="share", title="Compression")
    middle.plot(x, cosine, "o-", label="cosine (tape embedder)")
    middle.plot(x, f1, "s-", label="token F1 (embedder-free)")
    middle.plot(x, [r["glyph_phrase_token_f1_mean"] or float("nan") for r in rows], "^:",
                label="token F1 of coded phrases")
    middle.plot(x, [r["exact_reconstruction_rate"] for r in rows], "d--", label="exact reconstruction rate")
    middle.set(xlabel="similarity threshold", ylabel="preservation", title="Original vs expanded text")
    right.plot(reduction, cosine, "o-", label="cosine (tape embedder)")
    right.plot(reduction, f1, "s-", label="token F1 (embedder-free)")
    for threshold, r, y in zip(x, reduction, f1):
        right.annotate(f"{threshold:.2f}", (r, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    right.set(xlabel="token reduction", ylabel="preservation", title="Trade-off (labels: threshold)")
    plot_exactness(result, last)
    for ax in (left, middle, right, last):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{result['n_documents']} held-out documents, tape of {result['tape_families']} families")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def markdown(result: dict) -> str:
    return f"""# Context efficiency of the hybrid tokenizer

- tape: `{result['tape']}` ({result['tape_families']} families), embedder `{result['embedder']}`
- token counter: {result['tokenizer']}
- held-out documents: {result['n_documents']} ({result['n_sentences']} sentences); share of their
  sentences found verbatim among the tape's phrases: {result['heldout_sentences_seen_in_tape']:.1%}
- window: {result['window']} tokens

Preservation compares each original document with its hybrid encoding expanded back to text:
cosine under the tape's own embedder, word-level token F1, which does not depend on the embedder,
and the exact reconstruction rate, the share of sentences rebuilt character for character. "F1 of
coded phrases" looks at the coded sentences alone. Sentences per 1,000 tokens: how much of the
history a context of that size holds (verbatim text: {result['sentences_per_1k_tokens_regular']:.1f}).

## Glyph codes

Each sentence with a family (similarity at or above the threshold) becomes the family's code; on
expansion it reads as the family's representative phrase.

{markdown_table(result['rows'])}

## Residual codes

Per sentence, whichever keeps it exactly at fewer tokens: verbatim; the glyph alone when the
sentence is the family's representative; the glyph with its complete residual (the runs that
differ, `⟨old→new|...⟩`) when it costs fewer than {result['residual_max_ratio']:g}× the verbatim
sentence's tokens. Every form expands to the sentence exactly.

{markdown_table(result['residual_rows'])}

![threshold trade-off](efficiency.png)
"""


def write_report(result: dict, out: Path) -> dict[str, Path]:
    """efficiency.json, efficiency.png and efficiency.md under `out`, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "efficiency.json", "png": out / "efficiency.png", "md": out / "efficiency.md"}
    staged = {kind: path.with_name(f".{path.name}.tmp") for kind, path in paths.items()}
    staged["json"].write_text(json.dumps(result, indent=2) + "\n")
    plot(result, staged["png"])
    staged["md"].write_text(markdown(result))
    for kind, path in paths.items():
        os.replace(staged[kind], path)
    return paths
