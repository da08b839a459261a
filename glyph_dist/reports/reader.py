"""The reader evaluation as a markdown table: per data set, budget and strategy, each reader's EM, F1
and containment beside the context's model-free evidence recall."""

from __future__ import annotations

from statistics import fmean

from glyph_dist.reports.common import table


def reader_markdown(result: dict) -> str:
    config, rows = result["config"], result["rows"]
    readers = list(config["readers"])
    cells = {(r["reader"], r["dataset"], r["budget"], r["strategy"]): r for r in rows}
    keys = sorted({(r["dataset"], r["budget"], r["strategy"]) for r in rows},
                  key=lambda k: (k[0], k[1], config["strategies"].index(k[2])))
    head = ["data set", "budget", "strategy", "evidence recall"] + [f"{r} {m}" for r in readers
                                                                      for m in ("EM", "F1", "containment")]
    body = []
    for dataset, budget, strategy in keys:
        first = cells[(readers[0], dataset, budget, strategy)]
        scores = [f"{cells[(r, dataset, budget, strategy)][m]:.3f}" for r in readers for m in ("em", "f1", "success_rate")]
        body.append([dataset, str(budget), strategy, f"{first['evidence_recall']:.3f}", *scores])
    means = [f"**{fmean(r[m] for r in rows if r['reader'] == reader):.3f}**" for reader in readers
             for m in ("em", "f1", "success_rate")]
    body.append(["**mean**", "", "", "", *means])
    setup = (f"Readers on the {config['split']} split: the first {config['questions_per_dataset']} questions of each data "
             f"set; answerers {', '.join(f'{k} = `{v}`' for k, v in config['answerers'].items())}; judge "
             f"`{config['judge']}`; budgets counted by {config['token_counter']}.")
    return f"{setup}\n\n{table(head, body)}\n"
