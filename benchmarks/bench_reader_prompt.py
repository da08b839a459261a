"""The model answerer's prompt, measured: the plain prompt against the chat template with a few-word instruction.

A causal LM (default: the catalog's SmolLM2-135M-Instruct) answers N context-benchmark questions (half from each data set's
split, drawn with a fixed seed) from one strategy's context under one budget, twice, greedily:
- before: the plain `PROMPT` continued, the answer cut at its first newline (the answerer before the chat
  template);
- after: `CHAT_PROMPT` (the question, its context and the instruction to answer in a few words) as a user
  message in the model's chat template.
Each generation is scored as it came (first line) and after `clean_answer` by the rule judge: EM, F1 and
containment. The contexts' evidence recall (model-free) bounds what any reader of them could answer. Choose
prompt wording on the train split; report the test split.

    .venv/bin/python benchmarks/bench_reader_prompt.py [--split test] [--questions 100] [--strategy bm25_topk]
        [--budget 256] [--model smollm2] [--bench-data data/phase5] [--tape data/tapes/sgd]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from statistics import fmean

from _machine import ROOT, print_header
from glyph_dist.cli import add_bench_data_option

DATASETS = ("agent_logs", "public_dialog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="catalog name or model directory (default: %(default)s)")
    add_bench_data_option(parser)
    parser.add_argument("--tape", type=Path, default=ROOT / "data" / "tapes" / "sgd", help="(default: %(default)s)")
    parser.add_argument("--split", default="test", help="(default: %(default)s)")
    parser.add_argument("--strategy", default="bm25_topk", help="(default: %(default)s)")
    parser.add_argument("--budget", type=int, default=256, help="context tokens, tape-counted (default: %(default)s)")
    parser.add_argument("--questions", type=int, default=100, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="draws the questions (default: %(default)s)")
    args = parser.parse_args()
    print_header("bench_reader_prompt")

    from glyph_dist.eval.loop import ask
    from glyph_dist.context.episodes import load_episodes
    from glyph_dist.context.strategies import make_strategy
    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape
    from glyph_dist.models.answerers import clean_answer, get_answerer
    from glyph_dist.models.judges import get_judge

    strategy = make_strategy(args.strategy, HybridTokenizer(load_tape(args.tape)))
    outcomes = []
    for name in DATASETS:
        questions = [(e, q) for e in load_episodes(args.bench_data / f"{name}.jsonl", args.split) for q in e.questions]
        random.Random(args.seed).shuffle(questions)
        outcomes += [ask(e, q, strategy.context(e, q, args.budget), strategy.hybrid) for e, q in questions[:args.questions // 2]]
    requests = [o.request for o in outcomes]
    golds = [r.answer for r in requests]
    print(f"\n-- {len(requests)} questions ({args.split} split of {', '.join(DATASETS)}), {args.strategy} at "
          f"{args.budget} tape tokens; evidence recall (model-free) of the contexts: "
          f"{fmean(o.evidence_present for o in outcomes):.3f}")

    answerer, judge = get_answerer(args.model, batch_size=args.batch_size), get_judge("rule")
    print(f"   answerer {answerer.name}, chat template: {answerer.lm.has_chat_template}, judge {judge.name}")
    for label, chat in (("before: plain prompt", False), ("after: chat template + instruction", True)):
        answerer.chat = chat
        start = time.perf_counter()
        generated = answerer.lm.generate(answerer.prompts(requests), answerer.max_new_tokens, answerer.batch_size,
                                         chat=chat)
        seconds = time.perf_counter() - start
        for how, answers in (("first line", generated), ("cleaned", list(map(clean_answer, generated)))):
            scores = judge.score(answers, golds)
            print(f"   {label:<36} {how:<10}  EM {fmean(s['em'] for s in scores):.3f}  "
                  f"F1 {fmean(s['f1'] for s in scores):.3f}  containment {fmean(s['contains'] for s in scores):.3f}"
                  f"  mean answer {fmean(len(a.split()) for a in answers):.1f} words")
        print(f"   {'':<36} {seconds:.0f} s ({1e3 * seconds / len(requests):.0f} ms/question)")
        for request, answer in list(zip(requests, generated))[:3]:
            print(f"      gold {request.answer!r}: {answer[:80]!r}")


if __name__ == "__main__":
    main()
