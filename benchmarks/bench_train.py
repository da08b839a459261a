"""Supervised fine-tuning throughput: Ray Train + DeepSpeed (1 vs 2 CPU workers), a plain torch loop,
and the Hugging Face Trainer, all training the same tiny GPT-2 on the same pairs.

Every loop is built from the job's own pieces (`experiments/sft_tiny.yaml`: the tape's tokenizer, the
embedded default GPT-2, `tokenize_pairs`, `step_batches`, `build_model`, `TargetLoss`,
`build_optimizer`, `lr_at`) with the same global batch, AdamW settings, schedule and clipping:

1. `train_sft` with 1 and 2 CPU workers (ZeRO-2, one CPU each), tokens/s and the 2-worker speedup;
   the global batch stays the same (2 workers: half the micro batch each);
2. a plain single-process torch loop (torch AdamW, no Ray, no DeepSpeed) with the 1-worker run's
   micro batch; DeepSpeed's overhead = plain tokens/s / 1-worker tokens/s, target <= 1.3x;
3. the Hugging Face `Trainer` (needs accelerate; fp32 on CPU, no evaluation, no saving, the same optimizer and
   schedule passed in, the job's batches in the job's order with an attention mask and labels; its
   own loss, from logits at every position), tokens/s and its ratio to the 1-worker run.

Tokens counted: the non-pad tokens of each step's global batch (prompt + target + eos, what the job's
`tokens_per_s` counts), over the step's wall time, batch building included. The figure of a loop is
the median over its steps after the first WARMUP. Every training process runs one CPU thread (a
Ray worker holds one CPU), so the four figures compare the loops, not thread counts.

Data: the glyph-aware pairs (`data/phase5/glyph_aware/train.jsonl`, variant glyph) if present,
else synthetic (prompt, target) pairs from the SGD dev dialogues, written to a temporary directory:
the prompt template of the glyph-aware pairs around a dialogue history cut to its last 512 tokens,
target the next system turn (the first 16 pairs are the validation split, the rest train). The job
scores its validation split once, after its last step (outside the timed steps): 16 validation
pairs stand in for it.

    .venv/bin/python benchmarks/bench_train.py [--steps 40] [--warmup 5] [--tape DIR]
    .venv/bin/python benchmarks/bench_train.py --gpu [--gpu-micro-batch 128] [--peak-tflops 989] [--set KEY=VALUE ...]

With `--gpu` (a CUDA device only) one GPU worker trains a GPT-2 of 12 layers and width 768 in
bf16 under ZeRO-2 (torch.compile on, fused AdamW); `--set` passes job settings (`torch_compile=false`,
`length_window=1`, ...). Model FLOP utilisation, two ways (peak FLOP/s from `--peak-tflops`,
default 989: H100/H200 SXM bf16 dense):
- MFU (6N): 6 x N FLOPs a non-pad token, N = the parameters less the position embeddings (nanoGPT's
  count; the token embeddings count once, as the tied output layer), no attention term;
- MFU (needed): the matrix products this training needs, a non-pad token on average over the
  training pairs: 6 x the parameters of the blocks, plus 6 x the output layer's for a target token
  only (the loss needs no logits elsewhere, and the job computes none), plus causal attention
  (6 x layers x width x (s + 1) for a pair of s tokens: QK^T and AV, forward and backward).
Padding, the masked half of attention and recomputation count as no useful FLOPs in either.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# One CPU thread per training process: set before torch is imported; Ray's workers inherit it.
THREADS = 1
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _machine import ROOT, SGD_DIR, print_header  # noqa: E402

YAML = ROOT / "experiments" / "sft_tiny.yaml"
GLYPH_AWARE = ROOT / "data" / "phase5" / "glyph_aware"
TARGET_OVERHEAD = 1.3  # plain torch tokens/s over Ray Train + DeepSpeed (1 worker) tokens/s
VAL_PAIRS = 16
CONTEXT_BUDGET = 512  # tokens of dialogue history in a synthetic prompt (the glyph-aware budget)
NO_ACCELERATE = "not measured: the Trainer needs accelerate (pip install 'accelerate>=1.1.0')"
GPU_MODEL = {"n_layer": 12, "n_head": 12, "n_embd": 768}
IGNORE = -100  # the Hugging Face label of a position without loss


def summary(values: list[float]) -> str:
    return (f"median {statistics.median(values):,.0f} tokens/s (mean {statistics.fmean(values):,.0f}, "
            f"min {min(values):,.0f}, max {max(values):,.0f}, n={len(values)})")


def write_synthetic_pairs(directory: Path, tokenizer, n_train: int, n_val: int) -> tuple[Path, Path]:
    """(prompt, target) pairs from the SGD dialogues: the history before a dialogue's last system
    turn (the previous dialogue's turns first), cut to its last CONTEXT_BUDGET tokens, then the
    glyph-aware prompt template; the target is that system turn. The first `n_val` pairs are the
    validation split, the next `n_train` (or as many as there are dialogues) the training split."""
    from glyph_dist.context.prompts import PROMPT_TEMPLATE
    from glyph_dist.fgt.ingest import sgd_dialogues

    pairs, previous = [], []
    for dialogue in sgd_dialogues(SGD_DIR):
        turns = [f"{t.get('speaker', '')}: {t.get('utterance', '')}" for t in dialogue["turns"]]
        last = max((i for i, t in enumerate(dialogue["turns"]) if t.get("speaker") == "SYSTEM"), default=0)
        if last:
            history = previous + turns[:last]
            lengths = [len(ids) for ids in tokenizer([f"{line}\n" for line in history],
                                                     add_special_tokens=False)["input_ids"]]
            keep, used = len(history), 0
            while keep and used + lengths[keep - 1] <= CONTEXT_BUDGET:
                keep, used = keep - 1, used + lengths[keep - 1]
            prompt = PROMPT_TEMPLATE.format(context="\n".join(history[keep:]), instruction="Reply as the system.")
            pairs.append({"prompt": prompt, "target": " " + dialogue["turns"][last]["utterance"]})
        previous = turns
        if len(pairs) == n_val + n_train:
            break
    paths = directory / "train.jsonl", directory / "val.jsonl"
    for path, chunk in zip(paths, (pairs[n_val:], pairs[:n_val])):
        path.write_text("".join(json.dumps(p) + "\n" for p in chunk), encoding="utf-8")
    return paths


def pairs_for(work: Path, n_synthetic: int, settings: list[str]) -> tuple[list[str], str]:
    """Overrides naming the training and validation pairs, and where they come from. The validation
    split is only scored once, after the last step (outside the timed steps): its first VAL_PAIRS
    pairs are enough."""
    if (GLYPH_AWARE / "train.jsonl").is_file() and (GLYPH_AWARE / "val.jsonl").is_file():
        where = job_config(settings).where
        val = work / "val.jsonl"
        with (GLYPH_AWARE / "val.jsonl").open(encoding="utf-8") as lines:
            kept = [line for line in lines if line.strip()
                    and all(json.loads(line).get(k) == v for k, v in where.items())][:VAL_PAIRS]
        val.write_text("".join(kept), encoding="utf-8")
        return ([f"train_file={GLYPH_AWARE / 'train.jsonl'}", f"val_file={val}"],
                f"glyph-aware pairs {GLYPH_AWARE / 'train.jsonl'} ({', '.join(f'{k} {v}' for k, v in where.items())})")
    from glyph_dist.train.model import load_sft_tokenizer

    train, val = write_synthetic_pairs(work, load_sft_tokenizer(job_config(settings)), n_synthetic, VAL_PAIRS)
    return ([f"train_file={train}", f"val_file={val}", "where={}"],
            f"synthetic pairs from the SGD dialogues in {SGD_DIR} ({GLYPH_AWARE / 'train.jsonl'} not found): "
            f"history cut to {CONTEXT_BUDGET} tokens -> next system turn")


def job_config(overrides: list[str]):
    from glyph_dist.train.config import load_sft_config

    return load_sft_config(YAML, overrides)


def plain_torch(config, prepared, steps: int) -> tuple[list[float], list[float], list[int]]:
    """Tokens/s, loss and non-pad tokens of each step of a single-process torch loop over the 1-worker run's micro batches."""
    import torch

    from glyph_dist.train.data import step_batches
    from glyph_dist.train.loop import collator, lr_at
    from glyph_dist.train.model import TargetLoss, build_model
    from glyph_dist.train.zero import build_optimizer

    torch.manual_seed(config.seed)
    model = TargetLoss(build_model(config, prepared.tokenizer))
    model.train()
    optimizer = build_optimizer(config, model)
    batches = step_batches(prepared.train, 0, 1, config.micro_batch_size, config.grad_accum, config.seed,
                           collator(config, prepared.tokenizer), window=config.length_window)
    rates, losses, tokens = [], [], []
    for step in range(steps):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        batch_step = next(batches)
        loss_sum = 0.0
        optimizer.zero_grad(set_to_none=True)
        for batch in batch_step.micro_batches:
            loss = model(batch.input_ids, batch.positions, batch.targets)
            (loss / batch_step.scored).backward()
            loss_sum += loss.item()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        rates.append(batch_step.tokens / (time.perf_counter() - started))
        losses.append(loss_sum / batch_step.scored)
        tokens.append(batch_step.tokens)
    return rates, losses, tokens


def in_job_order(config, data, steps: int):
    """The training pairs in the order the job's steps take them (one worker, `steps` steps)."""
    from glyph_dist.models.pairs import TokenizedPairs
    from glyph_dist.train.data import epoch_order, steps_per_epoch

    per_epoch = steps_per_epoch(len(data), 1, config.micro_batch_size, config.grad_accum)
    order = [i for epoch in range(-(-steps // per_epoch))
             for i in epoch_order(data.lengths, config.global_batch, config.seed, epoch, config.length_window)]
    return TokenizedPairs([data.ids[i] for i in order], [data.prompt_lens[i] for i in order])


def hf_trainer(config, prepared, steps: int, output_dir: Path) -> tuple[list[float], float, list[int]]:
    """Tokens/s of each step of the Hugging Face Trainer (from one step's end to the next; the first
    step has no figure), its mean training loss, and the non-pad tokens of each step. It reads the
    job's batches in the job's order, with labels in place of the target positions."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from glyph_dist.train.loop import collator, lr_at
    from glyph_dist.train.model import build_model, param_groups

    counts: list[int] = []  # non-pad tokens of each collated micro batch, in the order consumed
    batching = collator(config, prepared.tokenizer)

    def labelled(examples):
        batch = batching(examples)
        labels = torch.full_like(batch.input_ids, IGNORE)
        labels.view(-1)[batch.positions + 1] = batch.targets
        mask = torch.zeros_like(batch.input_ids)
        for row, (ids, _) in enumerate(examples):
            mask[row, :len(ids)] = 1
        counts.append(batch.tokens)
        return {"input_ids": batch.input_ids, "attention_mask": mask, "labels": labels}

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    torch.manual_seed(config.seed)
    model = build_model(config, prepared.tokenizer)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.learning_rate,
                                  betas=(config.beta1, config.beta2), eps=1e-8)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(step, config) / config.learning_rate)
    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=config.grad_accum, max_grad_norm=config.grad_clip or 0.0, seed=config.seed,
        eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none", use_cpu=True,
        bf16=False, fp16=False, dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
        train_sampling_strategy="sequential")
    clock = StepClock()
    trainer = Trainer(model=model, args=args, train_dataset=in_job_order(config, prepared.train, steps),
                      data_collator=labelled, optimizers=(optimizer, schedule), callbacks=[clock])
    result = trainer.train()
    accum = config.grad_accum
    step_tokens = [sum(counts[i * accum:(i + 1) * accum]) for i in range(len(clock.ends))]
    rates = [step_tokens[i] / (clock.ends[i] - clock.ends[i - 1]) for i in range(1, len(clock.ends))]
    return rates, result.training_loss, step_tokens


def ray_job(config) -> tuple[list[float], list[float], float]:
    """Tokens/s and loss of each step of `train_sft`, and its wall time (worker start, final eval and
    checkpoint included)."""
    from glyph_dist.train.job import train_sft

    started = time.perf_counter()
    result = train_sft(config, quiet=True)
    wall = time.perf_counter() - started
    return [row["tokens_per_s"] for row in result.history], [row["loss"] for row in result.history], wall


def padding_share(config, prepared, steps: int) -> float:
    """The share of padding in the micro batches of the job's first `steps` steps (one worker)."""
    from glyph_dist.train.data import step_batches
    from glyph_dist.train.loop import collator

    batches = step_batches(prepared.train, 0, 1, config.micro_batch_size, config.grad_accum, config.seed,
                           collator(config, prepared.tokenizer), window=config.length_window)
    taken = [next(batches) for _ in range(steps)]
    return 1 - sum(step.tokens for step in taken) / sum(b.input_ids.numel() for step in taken for b in step.micro_batches)


def describe_data(config, prepared, source: str, steps: int) -> None:
    lengths = prepared.train.lengths
    print(f"\n-- data: {source}")
    print(f"   {len(lengths)} training pairs, {lengths.mean():.0f} tokens a pair on average (max {lengths.max()}; "
          f"max_length {config.max_length}), {prepared.train.scored.mean():.1f} of them target tokens; "
          f"vocabulary {len(prepared.tokenizer)} tokens")
    print(f"   batches: length_window {config.length_window}, pad_multiple {config.pad_multiple}: padding is "
          f"{100 * padding_share(config, prepared, steps):.1f}% of the first {steps} steps' positions")


def run_cpu(args) -> None:
    import ray
    import torch

    from glyph_dist.train.job import prepare

    torch.set_num_threads(THREADS)
    measured = args.steps - args.warmup
    with tempfile.TemporaryDirectory(prefix="sft-bench-") as tmp:
        work = Path(tmp)
        data, source = pairs_for(work, args.pairs, args.settings)
        common = [*args.settings, *data, f"storage_path={work / 'runs'}", f"max_steps={args.steps}",
                  f"eval_every={args.steps}", f"log_every={args.steps}", f"checkpoint_every={args.steps}",
                  "zero_stage=2", "cpus_per_worker=1", "grad_accum=1", "use_gpu=false"]
        one = job_config([*common, "name=bench_1w", "num_workers=1", f"micro_batch_size={args.global_batch}"])
        two = job_config([*common, "name=bench_2w", "num_workers=2", f"micro_batch_size={args.global_batch // 2}"])
        prepared = prepare(one)
        describe_data(one, prepared, source, args.steps)
        print(f"-- model: GPT-2 {one.gpt2} (the sft_tiny.yaml model), fp32, torch.compile "
              f"{'on' if one.compiled else 'off'}; global batch {one.global_batch} pairs (1 worker: micro batch "
              f"{one.micro_batch_size}; 2 workers: {two.micro_batch_size} each), AdamW, {args.steps} steps, the first "
              f"{args.warmup} skipped; {THREADS} CPU thread per training process")
        print("   tokens/s = non-pad tokens of the step's global batch / the step's wall time")
        sys.stdout.flush()

        started = time.perf_counter()
        plain_rates, plain_losses, plain_tokens = plain_torch(one, prepared, args.steps)
        plain_wall = time.perf_counter() - started
        hf_rates, hf_loss, hf_wall, hf_tokens = [], float("nan"), 0.0, []
        if importlib.util.find_spec("accelerate") is not None:
            started = time.perf_counter()
            hf_rates, hf_loss, hf_tokens = hf_trainer(one, prepared, args.steps, work / "hf")
            hf_wall = time.perf_counter() - started

        ray.init(num_cpus=2, include_dashboard=False)
        try:
            one_rates, one_losses, one_wall = ray_job(one)
            two_rates, two_losses, two_wall = ray_job(two)
        finally:
            ray.shutdown()

    plain = statistics.median(plain_rates[args.warmup:])
    ds1 = statistics.median(one_rates[args.warmup:])
    ds2 = statistics.median(two_rates[args.warmup:])
    overhead = plain / ds1
    print(f"\n-- tokens/s, steps {args.warmup + 1}-{args.steps} ({measured} steps)")
    print(f"   plain torch loop (1 process)          : {summary(plain_rates[args.warmup:])}; "
          f"mean loss {statistics.fmean(plain_losses):.4f}; {plain_wall:.1f} s")
    hf_steps = hf_rates[args.warmup - 1:]  # hf_rates[i] is step i + 2's figure
    if hf_steps:
        print(f"   Hugging Face Trainer (1 process)      : {summary(hf_steps)}; "
              f"mean loss {hf_loss:.4f}; {hf_wall:.1f} s")
    else:
        print(f"   Hugging Face Trainer (1 process)      : {NO_ACCELERATE}")
    print(f"   Ray Train + DeepSpeed ZeRO-2, 1 worker: {summary(one_rates[args.warmup:])}; "
          f"mean loss {statistics.fmean(one_losses):.4f}; train_sft {one_wall:.1f} s")
    print(f"   Ray Train + DeepSpeed ZeRO-2, 2 workers: {summary(two_rates[args.warmup:])}; "
          f"mean loss {statistics.fmean(two_losses):.4f}; train_sft {two_wall:.1f} s")
    same = "the same" if hf_tokens == plain_tokens else "not the same"
    print("   (mean loss over all steps; every loop trains on the job's batches in its order; "
          f"the Trainer's steps held {same} non-pad tokens as the plain loop's)")
    print("\n-- ratios (medians)")
    print(f"   2 workers / 1 worker                  : {ds2 / ds1:.2f}x")
    print(f"   DeepSpeed overhead = plain / 1 worker : {overhead:.2f}x; target <= {TARGET_OVERHEAD}x: "
          f"{'MET' if overhead <= TARGET_OVERHEAD else 'MISSED'}")
    print("   HF Trainer / 1 worker                 : "
          + (f"{statistics.median(hf_steps) / ds1:.2f}x" if hf_steps else "not measured"))
    print(f"   load average at the end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def flops_per_token(model, data) -> tuple[float, float, float]:
    """(6N, needed, N) for the GPT-2 `model` on `data`: FLOPs a non-pad token (see the module's docstring)."""
    total = sum(p.numel() for p in model.parameters())
    n = total - model.transformer.wpe.weight.numel()
    head = model.get_output_embeddings().weight.numel()
    config = model.config
    lengths = data.lengths.astype(float)
    attention = 6 * config.n_layer * config.n_embd * float((lengths * (lengths + 1)).sum() / lengths.sum())
    needed = 6 * (n - head) + 6 * head * float(data.scored.sum() / lengths.sum()) + attention
    return 6 * n, needed, n


def run_gpu(args) -> None:
    import ray
    import torch

    from glyph_dist.train.job import prepare
    from glyph_dist.train.model import build_model

    with tempfile.TemporaryDirectory(prefix="sft-bench-gpu-") as tmp:
        work = Path(tmp)
        data, source = pairs_for(work, max(args.pairs, args.steps * args.gpu_micro_batch), args.settings)
        config = job_config([*data, f"storage_path={work / 'runs'}", "name=bench_gpu", f"max_steps={args.steps}",
                             f"eval_every={args.steps}", f"log_every={args.steps}", f"checkpoint_every={args.steps}",
                             "zero_stage=2", "num_workers=1", "use_gpu=true", "grad_accum=1",
                             f"micro_batch_size={args.gpu_micro_batch}",
                             *(f"gpt2.{k}={v}" for k, v in GPU_MODEL.items()), *args.settings])
        prepared = prepare(config)
        six_n, needed, n = flops_per_token(build_model(config, prepared.tokenizer), prepared.train)
        describe_data(config, prepared, source, min(args.steps, 20))
        print(f"-- model: GPT-2 {config.gpt2}, N = {n / 1e6:.1f}M parameters (less position embeddings), bf16, "
              f"ZeRO-{config.zero_stage}, torch.compile {'on' if config.compiled else 'off'}, 1 GPU worker "
              f"({torch.cuda.get_device_name(0)}); micro batch {config.micro_batch_size}, {args.steps} steps, "
              f"the first {args.warmup} skipped")
        sys.stdout.flush()
        ray.init(num_cpus=2, include_dashboard=False)
        try:
            rates, losses, wall = ray_job(config)
        finally:
            ray.shutdown()
    rate = statistics.median(rates[args.warmup:])
    peak = args.peak_tflops * 1e12
    print(f"\n-- tokens/s (non-pad tokens), steps {args.warmup + 1}-{args.steps}: {summary(rates[args.warmup:])}; "
          f"train_sft {wall:.1f} s; last loss {losses[-1]:.4f}")
    print(f"   MFU (6N)     = {six_n / 1e6:.0f} MFLOP a token x {rate:,.0f} tokens/s / {args.peak_tflops:g} TFLOP/s "
          f"= {100 * six_n * rate / peak:.1f}%")
    print(f"   MFU (needed) = {needed / 1e6:.0f} MFLOP a token x {rate:,.0f} tokens/s / {args.peak_tflops:g} TFLOP/s "
          f"= {100 * needed * rate / peak:.1f}%")
    print(f"== result: micro_batch {config.micro_batch_size} compile {config.compiled} "
          f"length_window {config.length_window} pad_multiple {config.pad_multiple}: {rate:,.0f} tokens/s, "
          f"MFU (6N) {100 * six_n * rate / peak:.1f}%, MFU (needed) {100 * needed * rate / peak:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps a loop (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out (default: %(default)s)")
    parser.add_argument("--global-batch", type=int, default=8, help="pairs a step, even (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=400, help="synthetic training pairs (default: %(default)s)")
    parser.add_argument("--tape", help="the tape whose tokenizer to use (default: sft_tiny.yaml's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="a job setting for every run, as `train sft` takes it (repeatable)")
    parser.add_argument("--gpu", action="store_true", help="a ~100M GPT-2 on one GPU worker, bf16, ZeRO-2")
    parser.add_argument("--gpu-micro-batch", type=int, default=128,
                        help="micro batch with --gpu (default: %(default)s)")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the GPU's peak bf16 dense TFLOP/s for MFU (default: %(default)s, H100/H200 SXM)")
    args = parser.parse_args()
    if not 1 <= args.warmup < args.steps:
        parser.error("need 1 <= --warmup < --steps")
    if args.global_batch < 2 or args.global_batch % 2:
        parser.error("--global-batch must be even (2 workers take half each)")
    args.settings = ([f"tape={Path(args.tape).resolve()}"] if args.tape else []) + args.overrides

    os.chdir(ROOT)  # sft_tiny.yaml's relative paths (the tape) are relative to the repository root
    import torch

    if args.gpu and not torch.cuda.is_available():
        print(f"bench_train --gpu: no CUDA device here (torch {torch.__version__}, "
              f"torch.cuda.is_available() is False); run it on a machine with a GPU", file=sys.stderr)
        sys.exit(2)
    print_header("bench_train" + (" --gpu" if args.gpu else ""))
    if args.gpu:
        run_gpu(args)
        return
    if torch.cuda.is_available():
        print(f"   note: a CUDA device is present ({torch.cuda.get_device_name(0)}); the GPU figures (tokens/s, "
              f"MFU of a ~100M GPT-2 with bf16 + ZeRO-2) are measured with --gpu")
    started = time.perf_counter()
    run_cpu(args)
    print(f"\n   whole benchmark: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
