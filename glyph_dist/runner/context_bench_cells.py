"""The context-benchmark output layout of `eval` trials: one context-benchmark JSON per (dataset, budget, seed,
answerer, judge) cell, with a result per provider, then the context-benchmark report."""

from __future__ import annotations

import json
from pathlib import Path

from glyph_dist.eval.trial import EvalParams, dataset_name, dataset_path
from glyph_dist.files import write_text

TRIAL_FIELDS = ("provider", "variant", "ablation", "answerer", "judge", "token_counter", "counters", "log", "config",
                "n_episodes")  # row keys said once in the cell's config, or not at all


def write_cells(params_and_rows: list[tuple[EvalParams, dict]], out: Path, docs: Path | None) -> list[Path]:
    """One JSON per cell under `out`; the context-benchmark report in `docs` when given."""
    from glyph_dist.reports.context_bench import write_context_bench_report

    cells: dict[tuple, dict] = {}
    for params, row in params_and_rows:
        name = dataset_name(params)
        key = (name, params.budget, params.seed, row["answerer"], row["judge"])
        cell = cells.setdefault(key, {"config": {
            "dataset": str(dataset_path(params)), "dataset_name": name, "split": params.split,
            "budget": params.budget, "seed": params.seed, "answerer": row["answerer"], "judge": row["judge"],
            "token_counter": row["token_counter"], **params.fgms_read, "strategies": [],
            "n_episodes": row["n_episodes"], "n_questions": row["n_questions"]}, "results": {}})
        cell["config"]["strategies"].append(row["variant"])
        cell["results"][row["variant"]] = {k: v for k, v in row.items() if k not in TRIAL_FIELDS}
    paths = []
    for (name, budget, seed, answerer, judge), cell in sorted(cells.items()):
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{answerer}_{judge}")
        path = out / f"{name}_b{budget}_s{seed}_{slug}.json"
        write_text(path, json.dumps(cell, indent=1) + "\n")
        paths.append(path)
    if docs is not None:
        write_context_bench_report(out, docs)
    return paths
