"""Cognate pretraining under a time budget: each specialisation trains in this process (train.train_local,
the loop the Ray Train job runs, without Ray) for about SECONDS, then is evaluated; prints every
model's size, held-out perplexity, GSM8K accuracy, halting steps, memory share and tokens/s, their
diversity (diversity.py), and the machine.

The budget sets the steps: three steps of a throwaway model of the same specialisation are timed
(the first is a warm-up), and max_steps = SECONDS / seconds per step, at least 10; the run itself
has a fixed step count (the learning-rate schedule needs one), reported beside its wall time.

    .venv/bin/python benchmarks/bench_forge_cognate.py --seconds 240 [key=value ...]       # CPU
    python3 benchmarks/bench_forge_cognate.py --seconds 100 --out OUT.json                # a CUDA GPU

The config is experiments/forge_cognate.yaml with the overrides given (`model.d_model=64 ...`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from _machine import print_header  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "forge_cognate.yaml"


def seconds_per_step(config, specialisation: str, prepared, run_dir: Path, device) -> float:
    import torch

    from glyph_dist.forge.cognate.train import layout, setup, train_step

    model, optimizer = setup(config, specialisation, prepared.tokenizer, device, run_dir)
    micro, accum = layout(config, model)
    generator = torch.Generator().manual_seed(0)
    stage = prepared.streams.stages[-1]
    times = []
    for _ in range(3):
        batches = [prepared.streams.batch(stage, config.seq_len, micro, generator) for _ in range(accum)]
        started = time.perf_counter()
        train_step(model, optimizer, batches, config.act_weight, config.grad_clip, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return sum(times[1:]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="training time a model (default: %(default)s)")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--storage", type=Path, default=Path("runs/bench_forge"))
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    import torch

    from glyph_dist.forge.cognate.config import load_pretrain_config
    from glyph_dist.forge.cognate.diversity import diversity
    from glyph_dist.forge.cognate.train import prepare, train_local

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print_header(f"Cognate pretraining, {args.seconds:.0f} s a model on {device}"
                 + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""))
    config = load_pretrain_config(args.config, [f"storage_path={args.storage}", *args.overrides])
    root = Path(config.storage_path) / config.name
    started = time.perf_counter()
    prepared = prepare(config, root)
    print(f"data and tokenizer: {time.perf_counter() - started:.0f} s, {len(prepared.tokenizer)} tokens; training "
          f"tokens {', '.join(f'{k} {len(v):,}' for k, v in prepared.streams.train.items())}", flush=True)
    results = {}
    for specialisation in config.specialisations:
        per_step = seconds_per_step(config, specialisation, prepared, root / "calibration", device)
        steps = max(10, int(args.seconds / per_step))
        run_config = dataclasses.replace(config, max_steps=steps, eval_every=max(1, steps // 4),
                                         checkpoint_every=steps, log_every=max(1, steps // 20))
        print(f"{specialisation}: {per_step:.3f} s a step -> {steps} steps", flush=True)
        started = time.perf_counter()
        metrics = train_local(run_config, specialisation, prepared, root / specialisation, device)
        metrics["train_seconds_with_eval"] = time.perf_counter() - started
        metrics["max_steps"] = steps
        results[specialisation] = metrics
        print(f"{specialisation}: {metrics['parameters'] / 1e6:.2f}M + {metrics['embedding_parameters'] / 1e6:.2f}M "
              f"embedding, {steps} steps in {metrics['train_seconds_with_eval']:.0f} s (evaluation included): "
              f"perplexity {metrics['perplexity']:.2f} {json.dumps({k: round(v, 2) for k, v in metrics['perplexity_by_source'].items()})}, "
              f"GSM8K {metrics['gsm8k_correct']}/{metrics['gsm8k_n']}, halting steps {metrics['halting_steps']:.2f}, "
              f"memory share {metrics['memory_share']:.3f}, {metrics['tokens_per_s']:.0f} tokens/s", flush=True)
        write(args.out, {"device": str(device), "models": results})  # kept if a later model runs out of time
    summary = diversity(results)
    for figure, entry in summary["figures"].items():
        print(f"  {figure}: " + ", ".join(f"{k} {v:.4g}" for k, v in entry["values"].items())
              + f"; spread {entry['spread']:.3f}, cv {entry['cv']:.3f}")
    print(f"diversity (mean relative range): {summary['diversity']:.3f}")
    write(args.out, {"device": str(device), "models": results, "diversity": summary})


def write(path: Path | None, result: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
