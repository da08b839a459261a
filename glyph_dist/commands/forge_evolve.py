"""`glyph-dist forge evolve CONFIG [key=value ...]`: EvoMerge over the config's parents on a Ray actor
pool, then the report (reports/forge/NAME by default). Started again with the same name and
storage, a run continues after its last finished generation; `--restart` starts it afresh.

`glyph-dist forge finetunes --out DIR`: the (prompt, target) files of the fine-tuned SmolLM2
variants that the second population merges (train each with `glyph-dist train sft`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import shutil
import sys
from pathlib import Path

DEFAULT_CONFIG = Path("experiments/forge_evolve.yaml")


def _evolve(args) -> None:
    import ray

    from glyph_dist.forge.merge.config import load_evolve_config
    from glyph_dist.forge.merge.run import evolve
    from glyph_dist.reports.forge_merge import write_report
    from glyph_dist.provenance import git_commit, utc_now, versions

    config = load_evolve_config(args.config, args.overrides)
    if args.restart:
        shutil.rmtree(config.run_dir, ignore_errors=True)
    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    summary = evolve(config)
    spec = json.dumps(dataclasses.asdict(config), sort_keys=True)
    (config.run_dir / "meta.json").write_text(json.dumps({
        "name": config.name, "config_hash": hashlib.sha256(spec.encode()).hexdigest()[:16],
        "config": json.loads(spec), "git_commit": git_commit(), "finished_at": utc_now(),
        "python": sys.version.split()[0], "os": platform.platform(), "versions": versions()}, indent=1) + "\n")
    paths = write_report(summary, args.report or Path("reports/forge") / config.name)
    print(f"run: {config.run_dir}")
    print(f"report: {paths['markdown']}")


def _finetunes(args) -> None:
    from transformers import AutoTokenizer

    from glyph_dist.forge.merge.finetunes import write_variants
    from glyph_dist.models.catalog import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model), local_files_only=True)
    for variant, files in write_variants(args.out, args.datasets, tokenizer, args.variants, args.n, args.seed).items():
        print(f"{variant}: {files['pairs']} pairs -> {files['train']}, {files['val']}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    from glyph_dist.forge.cognate.data import DEFAULT_DATASETS
    from glyph_dist.forge.merge.finetunes import VARIANTS

    evolve = commands.add_parser("evolve", help="evolve merges of models (EvoMerge) on a Ray actor pool; "
                                                "report the champion against its parents")
    evolve.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG,
                        help="(default: %(default)s; experiments/forge_evolve_tiny.yaml is the test size)")
    evolve.add_argument("overrides", nargs="*", help="key=value overrides, e.g. ga.generations=5 workers=1")
    evolve.add_argument("--restart", action="store_true", help="discard the run directory and start afresh")
    evolve.add_argument("--report", type=Path, help="report directory (default: reports/forge/NAME)")
    evolve.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start Ray locally)")
    evolve.set_defaults(func=_evolve)

    finetunes = commands.add_parser("finetunes", help="write the SFT data of the fine-tuned variants "
                                                      "(one (prompt, target) set per kind of data)")
    finetunes.add_argument("--out", type=Path, required=True)
    finetunes.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="(default: %(default)s)")
    finetunes.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    finetunes.add_argument("--model", default="smollm2", help="whose chat template renders the prompts "
                                                              "(default: %(default)s)")
    finetunes.add_argument("--n", type=int, default=400, help="training pairs a variant (default: %(default)s)")
    finetunes.add_argument("--seed", type=int, default=1337, help="(default: %(default)s)")
    finetunes.set_defaults(func=_finetunes)
