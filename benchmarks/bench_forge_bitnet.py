"""Ternary matmul on CPU, measured: one linear layer of SmolLM2-135M's shapes (576 → 1536 and 1536 → 576)
in fp32 (torch's GEMM) against kernel.PackedBitLinear (int8 activations × ternary weights through
`torch._int_mm`), the unpacked int8 weights cached and unpacked again at every call, at 1 token
(decode) and 128 tokens (prefill); then, when given, the whole-model comparison of a packed directory
with its full-precision reference (bench.py). Prints the machine.

    .venv/bin/python benchmarks/bench_forge_bitnet.py [--threads 1] [--packed DIR --reference DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from _machine import print_header  # noqa: E402

SHAPES = ((576, 1536), (1536, 576))


def per_call(fn, repeats: int) -> float:
    fn()  # warm-up (and a cached unpack)
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def layer_rows(repeats: int) -> list[dict]:
    import torch

    from glyph_dist.forge.bitnet.bitlinear import BitLinear, ternary_codes, weight_scale
    from glyph_dist.forge.bitnet.kernel import PackedBitLinear
    from glyph_dist.forge.bitnet.pack import pack_ternary

    rows = []
    torch.manual_seed(0)
    for d_in, d_out in SHAPES:
        linear = torch.nn.Linear(d_in, d_out, bias=False)
        w = linear.weight.detach()
        packed = {}
        for cached in (True, False):
            layer = PackedBitLinear(d_in, d_out, bias=False, input_norm=False, cache_unpacked=cached)
            layer.load_state_dict({"weight_packed": pack_ternary(ternary_codes(w)),
                                   "weight_scale": weight_scale(w)[None]})
            packed[cached] = layer
        fake = BitLinear.from_linear(linear)
        for tokens in (1, 128):
            x = torch.randn(tokens, d_in)
            with torch.no_grad():
                times = {"fp32": per_call(lambda: linear(x), repeats),
                         "bitlinear_fake_quant": per_call(lambda: fake(x), repeats),
                         "packed_cached_int8": per_call(lambda: packed[True](x), repeats),
                         "packed_unpack_each_call": per_call(lambda: packed[False](x), repeats)}
            rows.append({"shape": f"{d_in}x{d_out}", "tokens": tokens,
                         **{f"{k}_us": v * 1e6 for k, v in times.items()},
                         "packed_cached_speedup_vs_fp32": times["fp32"] / times["packed_cached_int8"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--packed", type=Path)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    print_header(f"BitNet ternary matmul on CPU, {args.threads} thread(s)")
    result = {"layers": layer_rows(args.repeats)}
    for row in result["layers"]:
        print(f"{row['shape']} at {row['tokens']:>3} tokens: fp32 {row['fp32_us']:.1f} us, fake-quant BitLinear "
              f"{row['bitlinear_fake_quant_us']:.1f} us, packed (int8 cached) {row['packed_cached_int8_us']:.1f} us, "
              f"packed (unpack each call) {row['packed_unpack_each_call_us']:.1f} us; packed/fp32 speed "
              f"{row['packed_cached_speedup_vs_fp32']:.2f}x")
    if args.packed and args.reference:
        from glyph_dist.forge.bitnet.bench import compare

        model = compare(args.packed, args.reference, args.datasets, ["gsm8k"])
        result["model"] = model
        print(f"model: perplexity packed {model['packed']['perplexity']:.3f} vs reference "
              f"{model['reference']['perplexity']:.3f}; prefill {model['prefill_speed_ratio']:.2f}x, decode "
              f"{model['decode_speed_ratio']:.2f}x (packed / reference tokens/s)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
