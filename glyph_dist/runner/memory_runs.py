"""The memory-evaluation layout of `eval` trials: `runs/<DATE>/<variant>/<suite>/<n>_<seed>/`.

Before the trials: the seeded suite files they read (`data/memory/...`, recorded in
`data/MANIFEST.json`), a check that one date holds runs of one setting, and `runs/<DATE>/planned.json`.
After them: `metrics.json`, `metrics.csv` and `meta.json` per trial, and the roll-up report.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.trial import EvalParams, dataset_name, dataset_path
from glyph_dist.files import read_json, write_text
from glyph_dist.memory_rows import SPATIAL_METRICS, SUITES

SHARED_BY_DATE = ("answerer", "judge", "profile", "budget", "window", "max_items", "tape", "tokenizer")


def trial_dir(params: EvalParams, variant: str) -> Path:
    return Path(params.runs_dir) / str(params.date) / variant / dataset_name(params) / f"{params.n}_{params.seed}"


def write_suites(trials: list[EvalParams]) -> list[Path]:
    """The generated suite files the trials read, recorded in the data manifest: generated (it takes
    well under a second) and written when missing or when the generators now give other items."""
    from glyph_dist.data.manifest import read_manifest, sha256, write_manifest
    from glyph_dist.memory.suites import generate_suite
    from glyph_dist.memory.suites.io import suite_text

    paths, entries = [], {}
    for params in trials:
        path = dataset_path(params)
        if params.dataset not in SUITES or path in paths:
            continue
        items = generate_suite(params.dataset, params.n, params.seed, params.profile)
        text = suite_text(items)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_text(path, text)
            data_dir = Path(params.data_dir)
            entries.setdefault(data_dir, []).append({
                "path": path.relative_to(data_dir).as_posix(), "sha256": sha256(path),
                "generator": f"glyph_dist.memory.suites.{params.dataset}", "seed": params.seed,
                "profile": params.profile, "items": len(items),
                "teach_statements": sum(len(item.teach) for item in items)})
        paths.append(path)
    for data_dir, new in entries.items():
        write_manifest(data_dir, read_manifest(data_dir), new)
    return paths


def _setting(params: EvalParams) -> dict:
    """What every run of one date shares: the paths under runs/<DATE>/ do not tell these apart."""
    return {key: getattr(params, key) for key in SHARED_BY_DATE}


def _dates(trials: list[EvalParams]) -> dict[Path, list[EvalParams]]:
    days: dict[Path, list[EvalParams]] = {}
    for params in trials:
        days.setdefault(Path(params.runs_dir) / str(params.date), []).append(params)
    return dict(sorted(days.items()))


def check_date_setting(trials: list[EvalParams]) -> None:
    """A date's runs share one answerer, profile, budget, window, store limit and tape (else their
    files would mix under the same paths)."""
    for day, params in _dates(trials).items():
        path = day / "planned.json"
        settings = [read_json(path).get("setting") or {}] if path.exists() else []
        settings += [_setting(p) for p in params]
        differ = [key for key in SHARED_BY_DATE if len({json.dumps(s.get(key)) for s in settings}) > 1]
        if differ:
            values = "; ".join(f"{key}: {' vs '.join(sorted({json.dumps(s.get(key)) for s in settings}))}"
                               for key in differ)
            raise GlyphDistError(f"{day} would mix runs of different settings ({values}); "
                                 f"give this run its own date=... (any label, e.g. date={day.name}-b)")


def write_planned(trials: list[tuple[EvalParams, str]]) -> None:
    """`runs/<DATE>/planned.json`: the date's setting and every (trial, variant) planned for it, across runs."""
    for day, params in _dates([p for p, _ in trials]).items():
        path = day / "planned.json"
        planned = read_json(path)["trials"] if path.exists() else []
        for trial, variant in trials:
            entry = {"variant": variant, "suite": dataset_name(trial), "n": trial.n, "seed": trial.seed}
            if trial in params and entry not in planned:
                planned.append(entry)
        write_text(path, json.dumps({"setting": _setting(params[0]), "trials": planned}, indent=1) + "\n")


def memory_metrics(row: dict) -> dict:
    """The row's scalars under the memory reports' names: `memory_hit_rate` is every evidence
    statement in the context, `evidence_recall` the share of them."""
    metrics = {k: v for k, v in row.items() if (isinstance(v, (int, float)) and not isinstance(v, bool))
               or k in SPATIAL_METRICS}
    return metrics | {"memory_hit_rate": row["evidence_recall"], "evidence_recall": row["evidence_share"],
                      "avg_context_tokens": row["avg_tokens"], "max_context_tokens": row["max_tokens"],
                      "n_items": row["n_questions"]}


def _config_hash(trial: dict) -> str:
    return hashlib.sha256(json.dumps(trial, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_runs(params_and_rows: list[tuple[EvalParams, dict]], report: Path | None, run_dir: Path) -> list[Path]:
    """Per trial `metrics.json`, `metrics.csv`, `meta.json` under its `runs_dir`; then `<report>/<DATE>/`."""
    run_meta = read_json(run_dir / "meta.json")
    paths = []
    for params, row in params_and_rows:
        directory = trial_dir(params, row["variant"])
        trial = params.model_dump(by_alias=True)
        config = {"date": params.date, "preset": params.preset or params.provider, "variant": row["variant"],
                  "memory": row["provider"], "ablation": row["ablation"], "suite": dataset_name(params),
                  "n": params.n, "seed": params.seed, "profile": params.profile, "answerer": row["answerer"],
                  "judge": row["judge"], "token_counter": row["token_counter"], "budget": params.budget,
                  "window": params.window, "isolation": row["isolation"], "config_hash": _config_hash(trial)}
        metrics = memory_metrics(row)
        log = row["log"]
        if log:
            more = f" (and {len(log) - 1} more lines in its metrics.json)" if len(log) > 1 else ""
            print(f"{row['variant']} {config['suite']} {params.n}_{params.seed}: {log[0]}{more}", file=sys.stderr)
        document = {"config": config, "metrics": metrics, "counters": row["counters"], "module_config": row["config"],
                    "log": log}
        write_text(directory / "metrics.json", json.dumps(document, indent=1) + "\n")
        write_text(directory / "metrics.csv", pd.DataFrame([{**config, "ablation": json.dumps(row["ablation"]),
                                                               **metrics}]).to_csv(index=False))
        meta = {**copy.deepcopy(run_meta), "trial": trial, "config_hash": config["config_hash"], "run_dir": str(run_dir)}
        write_text(directory / "meta.json", json.dumps(meta, indent=1) + "\n")
        paths += [directory / "metrics.json", directory / "metrics.csv", directory / "meta.json"]
    if report is not None:
        from glyph_dist.reports.memory_eval import write_memory_report

        for day in _dates([params for params, _ in params_and_rows]):
            paths += write_memory_report(day.parent, report, day.name)
    return paths
