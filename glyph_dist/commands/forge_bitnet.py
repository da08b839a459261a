"""`glyph-dist forge bitnet train|export|bench`: BitNet b1.58 quantisation-aware training on Ray Train,
the packed 2-bit export with its measured compression, and the measured speed and quality of the
packed model against its full-precision reference (forge/bitnet/)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_CONFIG = Path("experiments/forge_bitnet_tiny.yaml")


def _write(result: dict, out: Path | None) -> None:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"results: {out}")


def _train(args) -> None:
    import ray

    from glyph_dist.forge.bitnet.config import load_qat_config
    from glyph_dist.forge.bitnet.qat import train_bitnet

    config = load_qat_config(args.config, args.overrides)
    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    metrics = train_bitnet(config)
    source, final = metrics["source"], metrics["final"]
    print(f"{metrics['ternary_layers']} ternary layers; held-out perplexity: source {source['perplexity']:.3f}, "
          f"after {config.max_steps} steps ({'ternary' if config.quantize else 'full precision'}) "
          f"{final['perplexity']:.3f}")
    print(f"model: {metrics['checkpoint']}")


def _export(args) -> None:
    from glyph_dist.fgt.store import load_tokenizer
    from glyph_dist.forge.bitnet.pack import export_packed
    from glyph_dist.forge.bitnet.qat import load_bitnet

    result = export_packed(load_bitnet(args.model), load_tokenizer(args.model), args.out, args.quantize_embeddings)
    print(f"packed: {args.out} ({result['packed_bytes']:,} bytes); fp32 checkpoint {result['fp32_bytes']:,} bytes "
          f"({result['ratio_vs_fp32']:.2f}x), fp16 {result['fp16_bytes']:,} bytes ({result['ratio_vs_fp16']:.2f}x); "
          f"ternary sparsity {result['sparsity']:.3f}")
    _write(result, args.json)


def _bench(args) -> None:
    import torch

    from glyph_dist.forge.bitnet.bench import compare

    if args.threads:
        torch.set_num_threads(args.threads)
    result = compare(args.packed, args.reference, args.datasets, args.sources, args.seq_len, args.heldout_tokens,
                     args.decode_tokens, args.questions, args.max_new_tokens, getattr(torch, args.reference_dtype))
    for name in ("packed", "reference"):
        row = result[name]
        gsm8k = f", GSM8K {row['gsm8k_correct']}/{row['gsm8k_n']}" if "gsm8k_n" in row else ""
        print(f"{name}: perplexity {row['perplexity']:.3f}, prefill {row['prefill_tokens_per_s']:.0f} tokens/s, "
              f"decode {row['decode_tokens_per_s']:.1f} tokens/s{gsm8k}")
    print(f"perplexity change {100 * result['perplexity_relative_change']:+.1f}%; speed packed/reference: prefill "
          f"{result['prefill_speed_ratio']:.2f}x, decode {result['decode_speed_ratio']:.2f}x "
          f"({result['torch_threads']} threads)")
    _write(result, args.json)


def add_commands(commands: argparse._SubParsersAction) -> None:
    from glyph_dist.forge.cognate.data import DEFAULT_DATASETS

    bitnet = commands.add_parser("bitnet", help="BitNet b1.58: QAT on Ray Train, packed 2-bit export, measured bench")
    sub = bitnet.add_subparsers(dest="bitnet_command", required=True)
    train = sub.add_parser("train", help="quantisation-aware fine-tuning (λ ramp to ternary) on Ray Train")
    train.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG, help="(default: %(default)s)")
    train.add_argument("overrides", nargs="*", help="key=value overrides, e.g. max_steps=50 model=DIR")
    train.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start Ray locally)")
    train.set_defaults(func=_train)

    export = sub.add_parser("export", help="write the packed 2-bit ternary model; measure bytes on disk")
    export.add_argument("model", type=Path, help="a BitNet model directory (a train checkpoint)")
    export.add_argument("out", type=Path, help="the packed directory to write")
    export.add_argument("--quantize-embeddings", action="store_true", help="int8 embeddings (per-row scale)")
    export.add_argument("--json", type=Path, help="also write the figures as JSON")
    export.set_defaults(func=_export)

    bench = sub.add_parser("bench", help="perplexity, tokens/s and GSM8K of a packed model against its reference")
    bench.add_argument("packed", type=Path, help="a packed directory (export)")
    bench.add_argument("reference", type=Path, help="the full-precision model directory to compare with")
    bench.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="(default: %(default)s)")
    bench.add_argument("--sources", nargs="+", default=["gsm8k"], help="held-out sources (default: %(default)s)")
    bench.add_argument("--seq-len", type=int, default=128, help="(default: %(default)s)")
    bench.add_argument("--heldout-tokens", type=int, default=4096, help="per source (default: %(default)s)")
    bench.add_argument("--decode-tokens", type=int, default=32, help="(default: %(default)s)")
    bench.add_argument("--questions", type=int, default=0, help="GSM8K test problems (default: %(default)s)")
    bench.add_argument("--max-new-tokens", type=int, default=128, help="(default: %(default)s)")
    bench.add_argument("--reference-dtype", choices=["float32", "bfloat16"], default="float32",
                       help="(default: %(default)s)")
    bench.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON")
    bench.set_defaults(func=_bench)
