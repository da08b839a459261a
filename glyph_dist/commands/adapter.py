"""`glyph-dist adapter generate|train|test`: the glyph adapter over a causal LM.

`--model` names a catalog model (`smollm2`), a local Hugging Face directory, or a saved adapter;
the first two need `--tape`, a saved adapter brings its own. `train` writes, under OUT:

    init/          the initialised adapter, the SFT job's starting model
    data/          train.jsonl and val.jsonl as the model reads them (rendered, hybrid-encoded)
    sft/           the SFT run (Ray Train + DeepSpeed): checkpoints, history.jsonl, meta.json
    adapter/       the fine-tuned adapter
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from glyph_dist.errors import GlyphDistError

DEFAULT_SFT_CONFIG = Path("experiments/adapter_sft.yaml")
SFT_KEYS_SET_HERE = {"name", "storage_path", "train_file", "val_file", "where", "model", "tokenizer", "tape"}


def _where(texts: list[str]) -> dict:
    from glyph_dist.yamlconf import parse_override

    return dict(parse_override(text) for text in texts or [])


def _load(args):
    from glyph_dist.models.adapter import GlyphAdapter

    return GlyphAdapter.load(args.model, args.tape, args.threshold)


def _generate(args) -> None:
    adapter = _load(args)
    use_hybrid = not args.no_hybrid
    print(f"prompt: {len(adapter.encode(args.prompt, use_hybrid))} tokens "
          f"({'hybrid' if use_hybrid else 'plain'}; plain: {len(adapter.encode(args.prompt, False))})")
    if use_hybrid:
        print(f"hybrid: {adapter.hybrid_texts([args.prompt])[0]}")
    text = adapter.generate(args.prompt, use_hybrid, args.max_new_tokens, expand=False)
    expanded = adapter.expand(text)
    print(f"output: {expanded}")
    if expanded != text:
        print(f"output before glyph expansion: {text}")


def _sft_config(args, out: Path):
    from glyph_dist.train.config import config_from_dict
    from glyph_dist.yamlconf import parse_override, read_mapping

    # dotted keys (`where.variant=raw`) stay whole here: config_from_dict applies them
    values = {**read_mapping(args.config), **dict(parse_override(text) for text in args.overrides)}
    clash = sorted(SFT_KEYS_SET_HERE & {str(key).partition(".")[0] for key in values})
    if clash:
        raise GlyphDistError(f"{args.config} or an override sets {', '.join(clash)}, which adapter train sets itself")
    # checked with the base model in place of the initial adapter, which is saved later
    return config_from_dict({**values, "name": "sft", "storage_path": str(out), "train_file": str(out / "data/train.jsonl"),
                             "val_file": str(out / "data/val.jsonl"), "model": args.model}, str(args.config))


def _train(args) -> None:
    from glyph_dist.data.corpus import write_jsonl
    from glyph_dist.models.adapter import GlyphAdapter
    from glyph_dist.models.pairs import read_pairs
    from glyph_dist.train.job import train_sft

    out = args.out.expanduser().resolve()
    if out.exists():
        raise GlyphDistError(f"{out} already exists: give adapter train a new --out directory")
    config = _sft_config(args, out)  # checked before any work
    use_hybrid, where = not args.no_hybrid, _where(args.where)
    adapter = GlyphAdapter.load(args.model, args.tape, args.threshold, device="cpu")
    pairs = {split: adapter.sft_pairs(read_pairs(path, where), use_hybrid, args.hybrid_targets, str(path))
             for split, path in (("train", args.train), ("val", args.val))}
    for split, split_pairs in pairs.items():
        write_jsonl(out / "data" / f"{split}.jsonl", [{"prompt": p.prompt, "target": p.target} for p in split_pairs])
    before = adapter.score(pairs["val"], config.max_length)
    adapter.save(out / "init")
    threshold, chat = adapter.threshold, adapter.chat
    del adapter  # the workers load their own copy
    print(f"{len(pairs['train'])} train / {len(pairs['val'])} val pairs ({'hybrid' if use_hybrid else 'plain'}), "
          f"val loss before training {before['loss']:.4f}; initial adapter: {out / 'init'}", flush=True)
    started = time.perf_counter()
    result = train_sft(dataclasses.replace(config, model=str(out / "init")))
    seconds = time.perf_counter() - started
    if result.checkpoint is None:
        raise GlyphDistError(f"the SFT run {result.path} left no checkpoint")
    trained = GlyphAdapter.load(result.checkpoint, out / "init" / "tape", threshold, chat, device="cpu")
    trained.save(out / "adapter")
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items() if isinstance(v, (int, float)))
    print(f"trained in {seconds:.0f} s: {metrics}\nval loss before {before['loss']:.4f}, after "
          f"{result.metrics.get('eval_loss', float('nan')):.4f}\nadapter: {out / 'adapter'}\nrun: {result.path}")


def _test(args) -> None:
    from glyph_dist.files import write_text
    from glyph_dist.models.pairs import read_pairs

    adapter = _load(args)
    use_hybrid = not args.no_hybrid
    pairs = read_pairs(args.pairs, _where(args.where))
    metrics = adapter.score(adapter.sft_pairs(pairs, use_hybrid, args.hybrid_targets, str(args.pairs)), args.max_length)
    print(f"{args.pairs}, {'hybrid' if use_hybrid else 'plain'} prompts: "
          + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    generations = []
    for pair in pairs[:args.generations]:
        output = adapter.generate(pair.prompt, use_hybrid, args.max_new_tokens)
        generations.append({"line": pair.line, "target": pair.target, "output": output})
        print(f"line {pair.line}: target {pair.target!r}\n    output {output!r}")
    if args.out:
        result = {"model": str(args.model), "pairs": str(args.pairs), "hybrid": use_hybrid,
                  "hybrid_targets": use_hybrid and args.hybrid_targets, "metrics": metrics, "generations": generations}
        write_text(args.out, json.dumps(result, indent=1) + "\n")
        print(f"results: {args.out}")


def register(groups: argparse._SubParsersAction) -> None:
    from glyph_dist.fgt.hybrid import DEFAULT_THRESHOLD

    adapter = groups.add_parser("adapter", help="the glyph adapter: a causal LM with the tape's glyph tokens")
    commands = adapter.add_subparsers(dest="command", required=True)

    def with_model(sub: argparse.ArgumentParser, what: str) -> argparse.ArgumentParser:
        sub.add_argument("--model", required=True, help=f"{what}: a catalog name (smollm2), a local causal LM "
                                                        "directory, or a saved adapter")
        sub.add_argument("--tape", type=Path, help="tape root or version (default: a saved adapter's own)")
        sub.add_argument("--threshold", type=float, help="similarity at or above which a phrase becomes a glyph "
                                                         f"(default: a saved adapter's, else {DEFAULT_THRESHOLD})")
        sub.add_argument("--no-hybrid", action="store_true", help="plain prompts, without glyph codes")
        return sub

    def with_pairs(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--where", action="append", metavar="KEY=VALUE",
                         help="keep the pairs whose field KEY equals VALUE (repeatable), e.g. variant=raw")
        sub.add_argument("--hybrid-targets", action="store_true",
                         help="hybrid-encode the targets too (a glyph then stands in for the exact answer)")

    generate = with_model(commands.add_parser("generate", help="greedy generation, decoded with glyph expansion"),
                          "the model")
    generate.add_argument("prompt")
    generate.add_argument("--max-new-tokens", type=int, default=64, help="(default: %(default)s)")
    generate.set_defaults(func=_generate)

    train = with_model(commands.add_parser(
        "train", help="fine-tune the adapter through the SFT job (Ray Train + DeepSpeed) on (prompt, target) pairs"),
        "the base model")
    train.add_argument("--train", type=Path, required=True, help="training pairs (JSONL, plain text)")
    train.add_argument("--val", type=Path, required=True, help="validation pairs (JSONL, plain text)")
    with_pairs(train)
    train.add_argument("--out", type=Path, required=True, help="a new directory for the adapter, data and run")
    train.add_argument("--config", type=Path, default=DEFAULT_SFT_CONFIG,
                       help="SFT settings (YAML; default: %(default)s)")
    train.add_argument("overrides", nargs="*", help="SFT key=value overrides, e.g. max_steps=20 num_workers=2")
    train.set_defaults(func=_train)

    test = with_model(commands.add_parser(
        "test", help="evaluate only: target loss, perplexity and token accuracy on held-out pairs, and generations"),
        "the adapter")
    test.add_argument("--pairs", type=Path, required=True, help="held-out pairs (JSONL)")
    with_pairs(test)
    test.add_argument("--max-length", type=int, default=1024,
                      help="longer pairs lose the start of their prompt, as in training (default: %(default)s)")
    test.add_argument("--generations", type=int, default=3, help="pairs to generate for (default: %(default)s)")
    test.add_argument("--max-new-tokens", type=int, default=64, help="(default: %(default)s)")
    test.add_argument("--out", type=Path, help="also write the metrics and generations as JSON")
    test.set_defaults(func=_test)
