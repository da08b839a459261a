"""The memory evaluation's smoke check (`reports/<DATE>/smoke.md`): which runs a date has, which planned trials
have none, and the runs whose numbers cannot be right (NaN metrics, rates outside [0, 1], a size other than
planned)."""

from __future__ import annotations

import pandas as pd

from glyph_dist.reports.common import listed, table
from glyph_dist.reports.memory_eval_load import TRIAL, MemoryRuns, suite_order
from glyph_dist.reports.study import ordered

# Metrics that are shares of items: a value outside [0, 1] is a bug in the trial.
RATES = ("em", "em_raw", "f1", "contains", "memory_hit_rate", "evidence_recall", "spatial_success", "llm_equivalent",
         "llm_em_agreement", "llm_contains_agreement")
UNDEFINED_WITHOUT_SUCCESS = "spatial_suboptimality"


def missing_trials(data: MemoryRuns) -> pd.DataFrame | None:
    """Planned trials without a metrics.json, sorted; None when nothing was planned (no planned.json)."""
    if data.planned is None:
        return None
    found = data.runs[list(TRIAL)].assign(found=True)
    merged = data.planned.merge(found, on=list(TRIAL), how="left")
    return merged[merged["found"].isna()][list(TRIAL)].sort_values(list(TRIAL)).reset_index(drop=True)


def _where(row: pd.Series, root) -> str:
    return f"`{row['path'].relative_to(root).as_posix()}`"


def health_problems(data: MemoryRuns) -> dict[str, list[str]]:
    """Per check, one line per problem: NaN metrics, rates outside [0, 1], runs whose n_items differs from n.
    A null sub-optimality is no problem: it is undefined when no route of the run succeeded."""
    values = data.metrics.merge(data.runs[[*TRIAL, "path"]], on=list(TRIAL))
    nan = values[values["value"].isna() & (values["name"] != UNDEFINED_WITHOUT_SUCCESS)]
    rates = values[values["name"].isin(RATES) & ((values["value"] < 0) | (values["value"] > 1))]
    items = values[(values["name"] == "n_items") & values["value"].notna() & (values["value"] != values["n"])]
    return {
        "NaN metrics": [f"{_where(r, data.root)}: {r['name']} is NaN" for _, r in nan.iterrows()],
        f"rates outside [0, 1] ({', '.join(RATES)})": [f"{_where(r, data.root)}: {r['name']} = {r['value']:.3f}"
                                                     for _, r in rates.iterrows()],
        "n_items different from n": [f"{_where(r, data.root)}: n_items = {r['value']:.0f}, n = {r['n']}"
                                     for _, r in items.iterrows()],
    }


def smoke_markdown(data: MemoryRuns, date: str, order: list[str], missing: pd.DataFrame | None) -> str:
    """Runs per variant, suite and n (variants in `order`), every failed check (`missing`: the planned trials
    without a run), and a closing status line."""
    present = data.runs.groupby(["variant", "suite", "n"])["seed"].apply(listed).reset_index()
    present = ordered(present, ["variant", "suite", "n"], {"variant": order, "suite": suite_order(present["suite"])})
    missed = None if missing is None else [f"{r['variant']}, suite {r['suite']}, n {r['n']}, seed {r['seed']}"
                                           for _, r in missing.iterrows()]
    checks = {**health_problems(data), "missing planned trials": missed}
    lines = []
    for check, found in checks.items():
        if found is None:
            lines.append(f"- {check}: not known (no planned.json)")
        else:
            lines.append(f"- {check}: {len(found) or 'none'}" + "".join(f"\n  - {line}" for line in found))
    count = sum(len(found or []) for found in checks.values())
    status = "status: ok" if count == 0 else f"status: problems found ({count})"
    rows = [[r["variant"], r["suite"], str(r["n"]), r["seed"]] for _, r in present.iterrows()]
    return (f"# Smoke check, memory evaluation {date}\n\nRuns found: {len(data.runs)} metrics.json under "
            f"`{data.root}`.\n\n## Runs per variant\n\n" + table(("variant", "suite", "n", "seeds"), rows)
            + "\n\n## Checks\n\n" + "\n".join(lines) + f"\n\n{status}\n")
