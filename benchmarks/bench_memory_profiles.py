"""Every memory on every suite under the profiles easy, hard and heldout, in process (no Ray).

Each (memory, suite, profile) teaches one seeded realisation to the memory with its default
config and asks every question with the model-free `context-recall` answerer and the rule judge,
as the eval trial kind does (one suite file as one teach stream, `glyph_dist.eval.loop`). Heldout is hard's world
said in held-out surface forms, so hard vs heldout isolates the wording. Prints EM per suite
(route success for spatial routes is in `spatial_success`); `derived`, for SGC-RSS, SMPD and ALL,
the share of questions whose context has a derived answer line (SGC-RSS's "=> ...", SMPD's "Route
...", "Ending place: ...") holding the gold answer (context-recall only asks whether the evidence
statements are in the context; SMPD packs a maze's other statements too, so it can have them all
without reading them right); and the share of teach statements SGC-RSS and SMPD could not read.

    .venv/bin/python benchmarks/bench_memory_profiles.py [--n 50] [--seed 1337] [--memories sgc_rss smpd]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from _machine import ROOT, print_header

PROFILES = ("easy", "hard", "heldout")
UNREAD = {"sgc_rss": "unparsed", "smpd": "ignored"}  # counters of statements a reader could not read
DERIVED = ("=> ", "Route ", "Ending place:")  # how the derived answer lines of SGC-RSS and SMPD begin


def derived_line(context: str) -> str:
    return next((line for line in context.split("\n") if line.startswith(DERIVED)), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tape", type=Path, default=ROOT / "data" / "tapes" / "sgd",
                        help="tape (default: %(default)s)")
    parser.add_argument("--n", type=int, default=50, help="items per suite (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1337, help="suite seed (default: %(default)s)")
    parser.add_argument("--budget", type=int, default=256, help="context tokens per question (default: %(default)s)")
    parser.add_argument("--window", type=int, default=2048, help="longctx's window (default: %(default)s)")
    parser.add_argument("--memories", nargs="*", help="memories to run (default: every registered one)")
    args = parser.parse_args()
    print_header("bench_memory_profiles")

    from glyph_dist.eval.episodes import as_stream, item_episode
    from glyph_dist.eval.loop import run_provider
    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape
    from glyph_dist.memory.registry import MEMORIES
    from glyph_dist.memory.suites import generate_suite
    from glyph_dist.memory_rows import SUITES
    from glyph_dist.models.answerers import ContextRecall
    from glyph_dist.models.judges import get_judge
    from glyph_dist.providers.base import Setup
    from glyph_dist.providers.registry import build_provider

    setup = Setup(HybridTokenizer(load_tape(args.tape)), log=lambda message: None)
    rows = []
    for profile in PROFILES:
        for suite in SUITES:
            items = generate_suite(suite, args.n, args.seed, profile)
            stream = as_stream([item_episode(item) for item in items], f"{suite}_{profile}")
            for name in args.memories or MEMORIES:
                start = time.perf_counter()
                provider = build_provider(name, setup)
                budget = args.window if name == "longctx" else args.budget
                metrics = run_provider(provider, [stream], budget, ContextRecall(), get_judge("rule"))
                if name in ("sgc_rss", "smpd", "all"):
                    metrics["derived"] = sum(item.answer in derived_line(provider.memory.read(item.question, budget))
                                             for item in items) / len(items)
                counters = provider.counters()
                unread = {f"{reader}_unread": counters[f"{prefix}{counter}"] / counters[f"{prefix}offered"]
                          for reader, counter in UNREAD.items() if name in (reader, "all")
                          for prefix in [f"{reader}." if name == "all" else ""]}
                rows.append({"memory": name, "suite": suite, "profile": profile, "em": metrics["em"],
                             "spatial_success": metrics.get("spatial_success"), "derived": metrics.get("derived"),
                             **unread,
                             "seconds": time.perf_counter() - start})
                print(f"{profile:8s} {suite:9s} {name:8s} em={metrics['em']:.3f} ({rows[-1]['seconds']:.1f} s)",
                      flush=True)
    frame = pd.DataFrame(rows)
    for value in ("em", "spatial_success", "derived", *(f"{reader}_unread" for reader in UNREAD)):
        table = frame.pivot_table(index="memory", columns=["suite", "profile"], values=value, sort=False)
        if not table.dropna(how="all").empty:
            print(f"\n-- {value} (n={args.n}, seed {args.seed})\n{table.round(3).to_string()}")


if __name__ == "__main__":
    main()
