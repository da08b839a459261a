"""`glyph-dist forge pretrain|eval`: the Cognate models of the model forge.

`pretrain` trains every specialisation of a config on Ray Train and writes, under STORAGE_PATH/NAME:

    tokenizer/                      the tokenizer all specialisations share
    SPECIALISATION/checkpoint_*/    Ray Train's checkpoints: model directories with optimiser states
    SPECIALISATION/eval.json        the final model's metrics and training history
    summary.json  meta.json         every model's metrics and their diversity; provenance

`eval` scores saved models (a checkpoint or model directory each) on the held-out data and GSM8K
test problems, and their diversity when there are several.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import sys
from pathlib import Path

from glyph_dist.commands.forge_bitnet import add_commands as add_bitnet_commands
from glyph_dist.commands.forge_evolve import add_commands as add_evolve_commands
from glyph_dist.commands.forge_quietstar import add_commands as add_quietstar_commands

DEFAULT_CONFIG = Path("experiments/forge_cognate.yaml")


def _print_models(models: dict[str, dict]) -> None:
    for name, m in models.items():
        print(f"{name}: {m['parameters'] / 1e6:.2f}M parameters (+{m['embedding_parameters'] / 1e6:.2f}M embedding), "
              f"held-out perplexity {m['perplexity']:.2f}, GSM8K {m.get('gsm8k_correct', 0)}/{m.get('gsm8k_n', 0)} "
              f"= {m.get('gsm8k_accuracy', float('nan')):.3f}, halting steps {m['halting_steps']:.2f}, "
              f"memory share {m['memory_share']:.3f}, {m['tokens_per_s']:.0f} tokens/s")


def _print_diversity(summary: dict) -> None:
    figures = summary["figures"]
    for figure, entry in figures.items():
        values = ", ".join(f"{k} {v:.4g}" for k, v in entry["values"].items())
        print(f"  {figure}: {values}; spread {entry['spread']:.3f}, cv {entry['cv']:.3f}")
    print(f"diversity (mean relative range of the three): {summary['diversity']:.3f}")


def _pretrain(args) -> None:
    import ray

    from glyph_dist.forge.cognate.config import load_pretrain_config
    from glyph_dist.forge.cognate.pretrain import pretrain
    from glyph_dist.provenance import git_commit, utc_now, versions

    config = load_pretrain_config(args.config, args.overrides)
    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    summary = pretrain(config)
    root = Path(config.storage_path) / config.name
    spec = json.dumps(dataclasses.asdict(config), sort_keys=True)
    (root / "meta.json").write_text(json.dumps({
        "name": config.name, "config_hash": hashlib.sha256(spec.encode()).hexdigest()[:16], "config": json.loads(spec),
        "git_commit": git_commit(), "finished_at": utc_now(), "python": sys.version.split()[0],
        "os": platform.platform(), "versions": versions()}, indent=1) + "\n")
    _print_models(summary["models"])
    if "diversity" in summary:
        _print_diversity(summary["diversity"])
    print(f"run: {root}")


def _eval(args) -> None:
    import torch

    from glyph_dist.forge.cognate.checkpoint import load_pretrained, read_meta
    from glyph_dist.forge.cognate.data import build_streams, gsm8k_problems, load_texts
    from glyph_dist.forge.cognate.diversity import diversity
    from glyph_dist.forge.cognate.evaluate import EvalSettings, evaluate
    from glyph_dist.forge.cognate.sizes import model_size

    device = torch.device(args.device)
    settings = EvalSettings(seq_len=args.seq_len, batch_size=args.batch_size, heldout_tokens=args.heldout_tokens,
                            gsm8k_questions=args.questions, max_new_tokens=args.max_new_tokens, threshold=args.threshold)
    texts = load_texts([], args.datasets, args.sources)
    problems = gsm8k_problems(args.datasets) if args.questions else []
    models = {}
    for directory in args.models:
        model, tokenizer = load_pretrained(directory, device)
        name = read_meta(directory).get("specialisation") or directory.name
        if name in models:
            name = str(directory)
        heldout = build_streams(texts, tokenizer, []).heldout
        size = model_size(model)
        models[name] = {"parameters": size.non_embedding, "embedding_parameters": size.embedding,
                        **evaluate(model, tokenizer, heldout, problems, settings, device)}
    _print_models(models)
    result = {"models": models}
    if len(models) > 1:
        result["diversity"] = diversity(models)
        _print_diversity(result["diversity"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"results: {args.out}")


def register(groups: argparse._SubParsersAction) -> None:
    from glyph_dist.forge.cognate.data import BUILTIN, DEFAULT_DATASETS

    forge = groups.add_parser("forge", help="the model forge: Cognate tiny recursive models, EvoMerge, BitNet, Quiet-STaR")
    commands = forge.add_subparsers(dest="command", required=True)
    pretrain = commands.add_parser("pretrain", help="pretrain the reasoning, memory and speed Cognate models on "
                                                    "Ray Train over the 3-stage curriculum")
    pretrain.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG,
                          help="(default: %(default)s; experiments/forge_cognate_tiny.yaml is the test size)")
    pretrain.add_argument("overrides", nargs="*", help="key=value overrides, e.g. max_steps=50 model.d_model=128")
    pretrain.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start Ray locally)")
    pretrain.set_defaults(func=_pretrain)

    evaluate = commands.add_parser("eval", help="held-out perplexity, GSM8K accuracy, halting, memory use and "
                                                "tokens/s of saved models, and their diversity")
    evaluate.add_argument("models", type=Path, nargs="+", help="model or checkpoint directories")
    evaluate.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="(default: %(default)s)")
    evaluate.add_argument("--sources", nargs="+", default=list(BUILTIN), help="held-out sources (default: %(default)s)")
    evaluate.add_argument("--seq-len", type=int, default=256, help="(default: %(default)s)")
    evaluate.add_argument("--batch-size", type=int, default=8, help="(default: %(default)s)")
    evaluate.add_argument("--heldout-tokens", type=int, default=16384, help="per source (default: %(default)s)")
    evaluate.add_argument("--questions", type=int, default=50, help="GSM8K test problems (default: %(default)s)")
    evaluate.add_argument("--max-new-tokens", type=int, default=160, help="(default: %(default)s)")
    evaluate.add_argument("--threshold", type=float, help="ACT halting threshold (default: each model's)")
    evaluate.add_argument("--device", default="cpu", help="(default: %(default)s)")
    evaluate.add_argument("--out", type=Path, help="also write the results as JSON")
    evaluate.set_defaults(func=_eval)
    add_evolve_commands(commands)  # evolve, finetunes (commands/forge_evolve.py)
    add_bitnet_commands(commands)  # bitnet train|export|bench (commands/forge_bitnet.py)
    add_quietstar_commands(commands)  # quietstar bake|train|eval (commands/forge_quietstar.py)
