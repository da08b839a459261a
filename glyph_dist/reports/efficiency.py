"""The context-efficiency report: a table, a two-panel threshold plot, and markdown."""

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
    ("glyph_phrase_token_f1_mean", "F1 of coded phrases", "{:.3f}"),
]


def _cell(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def markdown_table(rows: list[dict]) -> str:
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---:" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cell(row[key], fmt) for key, _, fmt in COLUMNS) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def plot(result: dict, path: Path) -> None:
    """Compression and preservation against the threshold, and the trade-off between them."""
    rows = result["rows"]
    x = [r["threshold"] for r in rows]
    reduction = [r["token_reduction"] for r in rows]
    cosine = [r["doc_cosine_mean"] for r in rows]
    f1 = [r["doc_token_f1_mean"] for r in rows]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.2))
    left.plot(x, reduction, "o-", label="token reduction")
    left.plot(x, [r["glyph_usage"] for r in rows], "s--", label="glyph usage (share of phrases)")
    left.set(xlabel="similarity threshold", ylabel="share", title="Compression")
    middle.plot(x, cosine, "o-", label="cosine (tape embedder)")
    middle.plot(x, f1, "s-", label="token F1 (embedder-free)")
    middle.plot(x, [r["glyph_phrase_token_f1_mean"] or float("nan") for r in rows], "^:",
                label="token F1 of coded phrases")
    middle.set(xlabel="similarity threshold", ylabel="preservation", title="Original vs expanded text")
    right.plot(reduction, cosine, "o-", label="cosine (tape embedder)")
    right.plot(reduction, f1, "s-", label="token F1 (embedder-free)")
    for threshold, r, y in zip(x, reduction, f1):
        right.annotate(f"{threshold:.2f}", (r, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    right.set(xlabel="token reduction", ylabel="preservation", title="Trade-off (labels: threshold)")
    for ax in (left, middle, right):
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

Preservation compares each original document with its hybrid encoding expanded back to text (each
glyph replaced by its family's representative phrase): cosine under the tape's own embedder, and
word-level token F1, which does not depend on the embedder. "F1 of coded phrases" looks at the
glyph-coded sentences alone.

{markdown_table(result['rows'])}

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
