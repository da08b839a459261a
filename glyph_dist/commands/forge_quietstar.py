"""`glyph-dist forge quietstar bake|train|eval`: thought tokens baked in by SFT, the Quiet-STaR REINFORCE
step with anti-theater checks on Ray Train, and the GSM8K evaluation of base, baked and trained models
(forge/quietstar/)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_CONFIG = Path("experiments/forge_quietstar_tiny.yaml")


def _config(args):
    from glyph_dist.forge.quietstar.config import load_quietstar_config

    return load_quietstar_config(args.config, args.overrides)


def _ray(args) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)


def _bake(args) -> None:
    from glyph_dist.forge.quietstar.bake import bake

    config = _config(args)
    _ray(args)
    result = bake(config)
    print(f"thought pairs: {result['pairs']['train']} train, {result['pairs']['val']} held out; held-out token "
          f"accuracy {result['token_accuracy']:.4f} over {result['scored_tokens']} tokens (threshold "
          f"{result['threshold']}: {'reached' if result['converged'] else 'not reached'})")
    print(f"baked model: {result['checkpoint']}")


def _train(args) -> None:
    from glyph_dist.forge.quietstar.rl import train_quietstar

    config = _config(args)
    _ray(args)
    result = train_quietstar(config)
    for row in result["history"]:
        if "checks_passed" in row:
            print(f"step {row['step']}: ablation drop {row['check_ablation']:.4f}, divergence "
                  f"{row['check_divergence']:.3f}, coherence-accuracy r {row['check_correlation']:.3f} -> "
                  + ("passed" if row["checks_passed"] else f"failed, rolled back to step {row['rolled_back_to']}"))
    print(f"{result['step']} steps, {result['rollbacks']} roll-back(s); final model (last passing state, step "
          f"{result['final_passing_step']}): {result['checkpoint']}")


def _eval(args) -> None:
    from glyph_dist.forge.quietstar.evaluate import evaluate_models

    models = dict(spec.split("=", 1) if "=" in spec else (Path(spec).name, spec) for spec in args.models)
    result = evaluate_models({k: Path(v) for k, v in models.items()}, args.datasets, args.questions,
                             args.max_new_tokens)
    for name, row in result.items():
        print(f"{name}: GSM8K {row['gsm8k_accuracy']:.3f} (n={row['gsm8k_n']}), thought "
              f"{row['thought_tokens_mean']:.1f} tokens (thinks in {row['thinking_share']:.2f}), {row['seconds_per_answer']:.2f} s an answer")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"results: {args.out}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    from glyph_dist.forge.cognate.data import DEFAULT_DATASETS

    quietstar = commands.add_parser("quietstar", help="Quiet-STaR thought tokens: bake (SFT), train (REINFORCE with "
                                                      "anti-theater checks), eval")
    sub = quietstar.add_subparsers(dest="quietstar_command", required=True)
    for name, func, text in (("bake", _bake, "add the 12 thought tokens and bake them in by SFT on strategy-tagged "
                                             "GSM8K thoughts; held-out token accuracy"),
                             ("train", _train, "the Quiet-STaR step from the baked model on Ray Train, gated by the "
                                               "anti-theater checks with roll-back")):
        command = sub.add_parser(name, help=text)
        command.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG, help="(default: %(default)s)")
        command.add_argument("overrides", nargs="*", help="key=value overrides, e.g. sft.max_steps=50 rl.n_thoughts=2")
        command.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start Ray locally)")
        command.set_defaults(func=func)
    evaluate = sub.add_parser("eval", help="GSM8K test accuracy, thought length and time per answer of models")
    evaluate.add_argument("models", nargs="+", help="model directories, each optionally NAME=DIR")
    evaluate.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="(default: %(default)s)")
    evaluate.add_argument("--questions", type=int, default=20, help="GSM8K test problems (default: %(default)s)")
    evaluate.add_argument("--max-new-tokens", type=int, default=192, help="(default: %(default)s)")
    evaluate.add_argument("--out", type=Path, help="also write the results as JSON")
    evaluate.set_defaults(func=_eval)
